/**
 * Resume after reconnect (issue 19 item 2): a client that kept its offsets gets, after a
 * reconnect, what it missed from the bus's retained window and then the live stream, nothing
 * missed or sent twice; across a Redis that lost its data it is told so; a user revoked meanwhile
 * gets no real-time byte; Polygon's SDK client sees none of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../app/hub.js';
import { checkResume } from '../../distribution/resume.js';
import { DrillRedis } from '../../drill/redis.js';
import type { Bus } from '../../platform/bus/index.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, publish, quote, readUsage, revokeGrant, sdkApp, until, waitForToken } from './helpers.js';

const DELAY_MS = 1_000;
const fixtures: DistributionFixture[] = [];
const dir = mkdtempSync(join(tmpdir(), 'mdhub-resume-'));
const redises: DrillRedis[] = [];

afterAll(async () => {
  for (const fx of fixtures) await fx.close();
  for (const redis of redises) await redis.child.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function fixture(
  name: string,
  env?: Record<string, string>,
  embedded = false,
): Promise<DistributionFixture> {
  const fx = await distributionFixture({ name, delayMs: DELAY_MS, env, embedded });
  fixtures.push(fx);
  return fx;
}

type Offsets = Record<string, { epoch: string; offset: string }>;

/** Every offsets status the client got, merged in order: what a client keeps. */
function keptOffsets(client: Client): Offsets {
  const kept: Offsets = {};
  for (const status of client.statuses()) {
    if (status.status === 'offsets') Object.assign(kept, status.offsets as Offsets);
  }
  return kept;
}

/** The sequence numbers (`q`) of the quotes of `sym` the client got, in order. */
function sequence(client: Client, sym = 'AAA'): number[] {
  return client.events('Q').flatMap((r) => (r.message.sym === sym ? [r.message.q as number] : []));
}

/** Publishes `n` quotes of AAA one batch at a time; returns their sequence numbers. */
async function quotes(bus: Bus, n: number): Promise<number[]> {
  const published: number[] = [];
  for (let i = 0; i < n; i++) {
    const q = quote('AAA', 1);
    published.push(q.q);
    await publish(bus, [q]);
    await sleep(2);
  }
  return published;
}

/** After a Redis restart: publishes one quote a time until the bus takes one; returns its sequence number. */
async function firstQuoteAccepted(bus: Bus): Promise<number[]> {
  let accepted: number[] = [];
  await until(
    async () => {
      try {
        accepted = await quotes(bus, 1);
        return true;
      } catch {
        return false;
      }
    },
    'the bus to take ticks again',
    15_000,
  );
  return accepted;
}

async function subscribedWithOffsets(port: number, token: string): Promise<Client> {
  const client = await Client.authenticated(port, token);
  client.send({ action: 'subscribe', params: 'Q.AAA', offsets: true });
  await client.waitFor((m) => m.status === 'offsets');
  return client;
}

/** Waits until the edge gives the user `mode` again (after a bus outage it re-checks entitlements first). */
async function untilMode(port: number, token: string, mode: string): Promise<void> {
  let last = '';
  await until(
    async () => {
      const probe = await Client.authenticated(port, token);
      const [reply] = await probe.subscribe('Q.AAA');
      probe.close();
      await probe.waitClosed();
      last = JSON.stringify(reply);
      const cta = (reply?.products as Record<string, { mode: string }> | undefined)?.CTA_A;
      return (cta?.mode ?? reply?.mode) === mode;
    },
    `the edge to give ${mode}`,
    15_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last answer ${last}`);
  });
}

/** Reconnects, resumes with `offsets`, subscribes; resolves once the answer to the resume came. */
async function resumed(port: number, token: string, offsets: Offsets): Promise<Client> {
  const client = await Client.authenticated(port, token);
  client.send({ action: 'resume', params: offsets });
  await client.waitFor((m) => m.status === 'resume_ready' || m.status === 'resume_gap');
  client.send({ action: 'subscribe', params: 'Q.AAA' });
  return client;
}

describe('resume across an edge restart', () => {
  it('replays what the client missed while its edge was down, then live, nothing missed or twice, in order', async () => {
    const fx = await fixture('resume_edge');
    const user = await fx.user('resume-edge', { realtime: ['CTA_A'], sessionLimit: 20 });
    const first: Hub = await fx.edge();
    await waitForToken(first.port, user.token);
    const before = await subscribedWithOffsets(first.port, user.token);
    const published = await quotes(fx.bus, 20);
    await until(() => sequence(before).length === 20, 'the first 20 quotes');
    await first.stop();
    await before.waitClosed();
    published.push(...(await quotes(fx.bus, 15)));

    const second = await fx.edge();
    await waitForToken(second.port, user.token);
    const after = await resumed(second.port, user.token, keptOffsets(before));
    const done = await after.waitFor((m) => m.status === 'resumed');
    expect(done.events).toBe(15);
    published.push(...(await quotes(fx.bus, 10)));
    await until(() => sequence(after).length === 25, 'the replay and the live quotes');
    await sleep(100);
    expect([...sequence(before), ...sequence(after)]).toEqual(published);
    // The replay's offsets and the live ones follow: the client can resume again from here.
    expect(Object.keys(keptOffsets(after)).length).toBe(fx.bus.ticks.shards);
    after.close();
    await after.waitClosed();
    // Every quote the user saw is one delivery; the day's first access has one id on both edges.
    let usage: Awaited<ReturnType<typeof readUsage>> = [];
    await until(async () => {
      usage = (await readUsage(fx.bus, `resume-${Date.now()}`)).filter((e) => e.user === user.id);
      return usage.filter((e) => e.kind === 'session_close').length === 2;
    }, 'both sessions to be metered');
    const delivered = usage.flatMap((e) => (e.kind === 'deliveries' ? [e.count] : []));
    expect(delivered.reduce((a, b) => a + b, 0)).toBe(published.length);
    const firsts = usage.filter((e) => e.kind === 'first_access');
    expect(new Set(firsts.map((e) => e.id)).size).toBe(1);
  });

  it('answers bad resume input with a clear error, and the session works on', async () => {
    const fx = await fixture('resume_bad');
    const user = await fx.user('resume-bad', { realtime: ['CTA_A'], sessionLimit: 20 });
    const client = await Client.authenticated(fx.port, user.token);
    client.send({ action: 'resume', params: 'nope' });
    const error = await client.waitFor((m) => m.status === 'error');
    expect(error).toMatchObject({ code: 400, message: expect.stringContaining('offsets object') });
    client.send({ action: 'resume', params: { 0: { epoch: 'x', offset: 'not-an-id' } } });
    await until(() => client.statuses().filter((m) => m.status === 'error').length === 2, 'a second error');
    expect(client.statuses().at(-1)?.message).toMatch(/stream 0: offset must be an id|stream 1 is missing/);
    expect((await client.subscribe('Q.AAA'))[0]).toMatchObject({ status: 'success' });
    client.send({ action: 'resume', params: {} });
    await until(
      () => client.statuses().some((m) => String(m.message).startsWith('resume comes right after auth')),
      'resume refused',
    );
    await quotes(fx.bus, 3);
    await until(() => sequence(client).length === 3, 'live quotes');
  });
});

describe('beyond the retained window', () => {
  it('is a gap when the epoch changed or the offset was trimmed away, and an error past the newest entry', () => {
    const held = { epoch: 'e1', deletedThrough: '1000-4', lastId: '2000-0' };
    expect(checkResume([{ epoch: 'e1', offset: '1000-4' }], [held])).toEqual({ ok: true, from: ['1000-4'] });
    expect(checkResume([{ epoch: 'e1', offset: '1000-3' }], [held])).toEqual({
      ok: false,
      gaps: [{ stream: 0, reason: 'trimmed' }],
    });
    expect(checkResume([{ epoch: 'e0', offset: '1500-0' }], [held])).toEqual({
      ok: false,
      gaps: [{ stream: 0, reason: 'epoch' }],
    });
    expect(checkResume([{ epoch: 'e1', offset: '2000-1' }], [held])).toEqual({ ok: false, ahead: 0 });
  });
});

describe('resume on the in-process bus', () => {
  it('replays what a reconnecting client missed, then live, nothing missed or twice', async () => {
    const fx = await fixture('resume_memory', undefined, true);
    const user = await fx.user('resume-memory', { realtime: ['CTA_A'], sessionLimit: 20 });
    const before = await subscribedWithOffsets(fx.port, user.token);
    const published = await quotes(fx.bus, 5);
    await until(() => sequence(before).length === 5, 'quotes before the reconnect');
    before.close();
    await before.waitClosed();
    published.push(...(await quotes(fx.bus, 5)));
    const after = await resumed(fx.port, user.token, keptOffsets(before));
    expect((await after.waitFor((m) => m.status === 'resumed')).events).toBe(5);
    published.push(...(await quotes(fx.bus, 5)));
    await until(() => sequence(after).length === 10, 'the replay and live quotes');
    await sleep(100);
    expect([...sequence(before), ...sequence(after)]).toEqual(published);
  });
});

describe('resume after a revocation', () => {
  it('gets no real-time byte: what it missed comes delayed, never before t + delay', async () => {
    const fx = await fixture('resume_revoked');
    const user = await fx.user('resume-revoked', { realtime: ['CTA_A'], sessionLimit: 20 });
    const before = await subscribedWithOffsets(fx.port, user.token);
    const seen = await quotes(fx.bus, 5);
    await until(() => sequence(before).length === 5, 'real-time quotes');
    const offsets = keptOffsets(before);
    before.close();
    await before.waitClosed();
    await revokeGrant(fx.hub, user.id, 'CTA_A');
    await untilMode(fx.port, user.token, 'delayed');
    const missed = await quotes(fx.bus, 10);
    const after = await resumed(fx.port, user.token, offsets);
    expect(await after.waitFor((m) => m.status === 'success')).toMatchObject({ mode: 'delayed' });
    await after.waitFor((m) => m.status === 'resumed');
    await until(() => sequence(after).length >= 1, 'delayed quotes', 5_000);
    await sleep(DELAY_MS);
    for (const r of after.events('Q'))
      expect(r.at).toBeGreaterThanOrEqual((r.message.t as number) + DELAY_MS);
    // Delayed data is conflated per bucket, and the delay line releases to the session what it
    // holds (a bucket of the quotes seen in real time may still be held): nothing else arrives.
    expect(sequence(after).every((q) => missed.includes(q) || seen.includes(q))).toBe(true);
    expect(sequence(after).at(-1)).toBe(missed.at(-1));
  });
});

describe("Polygon's SDK client", () => {
  it('works unchanged and sees no offsets it did not ask for', async () => {
    const fx = await fixture('resume_sdk');
    const user = await fx.user('resume-sdk', { realtime: ['CTA_A'], sessionLimit: 20 });
    const app = sdkApp(fx.port, user.token, 'Q.AAA');
    await until(() => app.messages.some((m) => m.status === 'success'), 'the subscribe status');
    await quotes(fx.bus, 5);
    await until(() => app.messages.filter((m) => m.ev === 'Q').length === 5, 'the quotes');
    expect(app.messages.some((m) => m.status === 'offsets')).toBe(false);
    app.close();
  });
});

describe('resume across a Redis restart', () => {
  it('on a Redis that kept its data (AOF): replays what was missed, nothing missed or twice, in order', async () => {
    const redis = await DrillRedis.start(join(dir, 'aof'), 'aof');
    redises.push(redis);
    const fx = await fixture('resume_aof', { REDIS_URL: redis.url });
    const user = await fx.user('resume-aof', { realtime: ['CTA_A'], sessionLimit: 20 });
    const before = await subscribedWithOffsets(fx.port, user.token);
    const published = await quotes(fx.bus, 10);
    await until(() => sequence(before).length === 10, 'quotes before the restart');
    before.close();
    await before.waitClosed();
    published.push(...(await quotes(fx.bus, 5)));
    await redis.child.stop();
    redis.child.restart();
    await redis.waitUp();
    published.push(...(await firstQuoteAccepted(fx.bus)));
    await untilMode(fx.port, user.token, 'realtime');
    const after = await resumed(fx.port, user.token, keptOffsets(before));
    expect((await after.waitFor((m) => m.status === 'resumed', 10_000)).events).toBe(published.length - 10);
    published.push(...(await quotes(fx.bus, 5)));
    await until(() => sequence(after).length === published.length - 10, 'the replay and live quotes', 10_000);
    await sleep(100);
    expect([...sequence(before), ...sequence(after)]).toEqual(published);
  }, 60_000);

  it('on a Redis that lost its data: the epoch changed, the client is told and continues live', async () => {
    const redis = await DrillRedis.start(join(dir, 'none'), 'none');
    redises.push(redis);
    const fx = await fixture('resume_redis', { REDIS_URL: redis.url });
    const user = await fx.user('resume-redis', { realtime: ['CTA_A'], sessionLimit: 20 });
    const before = await subscribedWithOffsets(fx.port, user.token);
    await quotes(fx.bus, 5);
    await until(() => sequence(before).length === 5, 'quotes before the restart');
    const offsets = keptOffsets(before);
    before.close();
    await before.waitClosed();
    await redis.crashAndRestart(200, () => undefined);
    // The hub lost its users with Redis' data only on the bus; PostgreSQL keeps them.
    const accepted = await firstQuoteAccepted(fx.bus);
    await untilMode(fx.port, user.token, 'realtime');
    const after = await resumed(fx.port, user.token, offsets);
    const gap = await after.waitFor((m) => m.status === 'resume_gap');
    expect(gap.reasons).toContain('epoch');
    expect(gap.message).toMatch(/epoch changed/);
    await after.waitFor((m) => m.status === 'offsets');
    const live = await quotes(fx.bus, 5);
    // On a loaded machine the edge may still be reading the quote that proved the bus back when
    // the client subscribes: it then comes live first. Nothing else may come, and live in order.
    await until(
      () => live.every((q) => sequence(after).includes(q)),
      'live quotes after the gap',
      10_000,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}: published ${live}, received ${sequence(after)} (accepted ${accepted})`,
      );
    });
    expect(sequence(after).filter((q) => !accepted.includes(q))).toEqual(live);
    const epochs = Object.values(keptOffsets(after)).map((o) => o.epoch);
    expect(epochs).not.toContain(offsets['0']?.epoch);
  }, 60_000);
});
