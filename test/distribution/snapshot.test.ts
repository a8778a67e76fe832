import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseClientMessage } from '../../distribution/protocol.js';
import type { UsageEvent } from '../../usage/index.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import {
  Client,
  metric,
  publish,
  quote,
  readUsage,
  sdkApp,
  setLastValues,
  type TestUser,
  trade,
  until,
} from './helpers.js';

/** Long enough that "fresh" and "a delay old" never blur while a test runs. */
const DELAY_MS = 60_000;

let fx: DistributionFixture;
let pro: TestUser;
let visitor: TestUser;
const seen: UsageEvent[] = [];

async function usage(): Promise<UsageEvent[]> {
  seen.push(...(await readUsage(fx.bus, 'snapshot-test')));
  return seen;
}

/** The usage events of a user once all of their sessions have closed. */
async function usageOf(user: string, sessions: number): Promise<UsageEvent[]> {
  await until(
    async () =>
      (await usage()).filter((e) => e.user === user && e.kind === 'session_close').length === sessions,
    `${user}'s sessions to close`,
  );
  return (await usage()).filter((e) => e.user === user);
}

/** The statuses answering subscribes, in order. */
const subscribeStatuses = (client: Client) =>
  client.statuses().filter((m) => String(m.message).startsWith('subscribed to: '));

/** A JSON value as it travels: what a client parses out of a frame. */
const wire = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;

/** Sends `message` and resolves after an unsubscribe sent behind it was answered: every frame for `message` has arrived. */
async function settle(client: Client, message: unknown): Promise<void> {
  const marker = `Q.SYNC${Math.floor(Math.random() * 1e9)}`;
  client.send(message);
  client.send({ action: 'unsubscribe', params: marker });
  await client.waitFor((m) => m.message === `unsubscribed to: ${marker}`);
}

beforeAll(async () => {
  fx = await distributionFixture({ name: 'snapshot', delayMs: DELAY_MS });
  pro = await fx.user('snap-pro', { realtime: ['CTA_A', 'CTA_B', 'UTP'] });
  visitor = await fx.user('snap-visitor');
});

afterAll(() => fx?.close());

describe('snapshot on subscribe, real time', () => {
  it('sends the last quote and trade ingest wrote as one frame each, after the statuses and before the stream, each counted as a delivery', async () => {
    const user = await fx.user('snap-rt', { realtime: ['CTA_A'] });
    const lastQuote = quote('RTA', 1, Date.now() - 2_000, 50);
    const lastTrade = trade('RTA', 1, Date.now() - 1_000, 51);
    await setLastValues(fx.bus, [lastQuote, lastTrade]);
    const client = await Client.authenticated(fx.port, user.token);
    client.send({ action: 'subscribe', params: 'Q.RTA,T.RTA', snapshot: true });
    await until(() => client.events().length === 2, 'both snapshots');
    const statuses = client.statuses().slice(-2);
    expect(statuses).toEqual([
      {
        ev: 'status',
        status: 'success',
        message: 'subscribed to: Q.RTA',
        mode: 'realtime',
        snapshot: 'sent',
      },
      {
        ev: 'status',
        status: 'success',
        message: 'subscribed to: T.RTA',
        mode: 'realtime',
        snapshot: 'sent',
      },
    ]);
    expect(client.events().map((r) => r.message)).toEqual([wire(lastQuote), wire(lastTrade)]);
    // Each snapshot is a frame of its own, after the frame of statuses.
    const statusFrame = client.received.findIndex((r) => r.message.message === 'subscribed to: Q.RTA');
    const firstEvent = client.received.findIndex((r) => r.message.ev === 'Q');
    expect(firstEvent).toBeGreaterThan(statusFrame);

    const live = quote('RTA', 1);
    await publish(fx.bus, [live]);
    await until(() => client.events('Q').length === 2, 'the stream after the snapshot');
    expect(client.events('Q')[1]?.message).toMatchObject({ q: live.q });

    client.close();
    const events = await usageOf('snap-rt', 1);
    const delivered = events.reduce((sum, e) => sum + (e.kind === 'deliveries' ? e.count : 0), 0);
    expect(delivered).toBe(3);
    expect(events.filter((e) => e.kind === 'first_access')).toHaveLength(1);
    expect(await metric(fx.port, 'mdhub_edge_frames_sent_total')).toBeGreaterThanOrEqual(3);
  });

  it('sends the same event object the stream sends, so an unchanged SDK handler takes it', async () => {
    const last = quote('SDKS', 3, Date.now() - 500, 42);
    await setLastValues(fx.bus, [last]);
    const socket = sdkApp(fx.port, pro.token, 'Q.SDKS', { snapshot: true });
    const { messages } = socket;
    try {
      await until(() => messages.some((m) => m.ev === 'Q'), 'the snapshot');
      expect(messages.find((m) => m.ev === 'Q')).toEqual({
        ev: 'Q',
        sym: 'SDKS',
        bx: last.bx,
        bp: last.bp,
        bs: last.bs,
        ax: last.ax,
        ap: last.ap,
        as: last.as,
        t: last.t,
        q: last.q,
        z: 3,
      });
    } finally {
      socket.close();
    }
  });

  it('says none exists, and sends nothing, for a symbol with no value, a wildcard or a bar channel', async () => {
    await setLastValues(fx.bus, [quote('BARS', 1)]);
    const client = await Client.authenticated(fx.port, pro.token);
    await settle(client, { action: 'subscribe', params: 'Q.NOSUCH,T.NOSUCH,Q.*,AM.BARS', snapshot: true });
    const [noQuote, noTrade, wildcard, bars] = subscribeStatuses(client);
    expect(noQuote).toMatchObject({
      status: 'success',
      message: 'subscribed to: Q.NOSUCH',
      snapshot: 'none',
      snapshotMessage: 'There is no quote of NOSUCH yet.',
    });
    expect(noTrade).toMatchObject({
      status: 'success',
      snapshot: 'none',
      snapshotMessage: 'There is no trade of NOSUCH yet.',
    });
    expect(wildcard).toMatchObject({
      status: 'success',
      message: 'subscribed to: Q.*',
      snapshot: 'unsupported',
    });
    expect(String(wildcard?.snapshotMessage)).toContain("snapshots are for one symbol's T or Q channel");
    expect(bars).toMatchObject({ status: 'success', snapshot: 'unsupported' });
    expect(client.events()).toEqual([]);
    client.close();
  });
});

describe('snapshot on subscribe, delayed', () => {
  it('sends the value as of now − delay — never a newer one — and counts nothing as real time', async () => {
    const now = Date.now();
    // DLA: only a fresh value exists. DLB: the delay line released an old one, the cache holds a
    // fresh one. DLC: the cache's value is already a delay old.
    const watcher = await Client.authenticated(fx.port, visitor.token);
    await watcher.subscribe('Q.DLB');
    const old = quote('DLB', 2, now - 2 * DELAY_MS, 10);
    await publish(fx.bus, [old]);
    await watcher.waitFor((m) => m.ev === 'Q' && m.q === old.q);
    const stale = quote('DLC', 2, now - DELAY_MS - 30_000, 30);
    await setLastValues(fx.bus, [quote('DLA', 2, now, 1), quote('DLB', 2, now, 20), stale]);

    const client = await Client.authenticated(fx.port, visitor.token);
    client.send({ action: 'subscribe', params: 'Q.DLA,Q.DLB,Q.DLC', snapshot: true });
    await until(() => client.events().length === 2, 'two delayed snapshots');
    const statuses = client.statuses().slice(-3);
    expect(statuses[0]).toMatchObject({
      status: 'success',
      mode: 'delayed',
      reason: 'no_grant',
      snapshot: 'none',
      snapshotMessage: 'No quote of DLA is 1 minute old yet; the delayed stream follows.',
    });
    expect(statuses[1]).toMatchObject({ mode: 'delayed', snapshot: 'sent' });
    expect(statuses[2]).toMatchObject({ mode: 'delayed', snapshot: 'sent' });
    const [fromLine, fromCache] = client.events();
    expect(fromLine?.message).toEqual(wire(old));
    expect(fromCache?.message).toEqual(wire(stale));
    for (const received of client.events()) {
      expect(received.message.t as number).toBeLessThanOrEqual(received.at - DELAY_MS);
    }

    watcher.close();
    client.close();
    const kinds = (await usageOf('snap-visitor', 2)).map((e) => e.kind);
    expect(kinds).not.toContain('deliveries');
    expect(kinds).not.toContain('first_access');
  });

  it('gives a session over its session limit the delayed value, never the real-time one', async () => {
    const user = await fx.user('snap-limited', { realtime: ['CTA_B'], sessionLimit: 1 });
    await setLastValues(fx.bus, [quote('LIM', 2, Date.now(), 70)]);
    const first = await Client.authenticated(fx.port, user.token);
    const second = await Client.authenticated(fx.port, user.token);
    await second.waitFor((m) => m.code === 406);
    await settle(second, { action: 'subscribe', params: 'Q.LIM', snapshot: true });
    expect(subscribeStatuses(second)[0]).toMatchObject({
      mode: 'delayed',
      reason: 'session_limit',
      snapshot: 'none',
    });
    expect(second.events()).toEqual([]);
    first.close();
    second.close();
  });
});

describe("snapshot on subscribe, at a grant's end", () => {
  it('re-decides before sending when the grant ended and its timer has not fired: delayed, not counted', async () => {
    // An edge whose clock runs ahead of the entitlement cache's timers: the grant's end has
    // passed for the edge while the timer that would announce it is a minute away.
    let ahead = 0;
    const edge = await fx.edge({ now: () => Date.now() + ahead });
    const user = await fx.user('snap-ending', { realtime: ['CTA_A'], validTo: Date.now() + DELAY_MS });
    const client = await Client.authenticated(edge.port, user.token);
    expect((await client.subscribe('Q.ENDS'))[0]).toMatchObject({ mode: 'mixed' });
    const last = quote('ENDS', 1, Date.now(), 90);
    await setLastValues(fx.bus, [last]);
    ahead = 2 * DELAY_MS;
    client.send({ action: 'subscribe', params: 'T.ENDS,Q.ENDS', snapshot: true });
    await until(() => client.events().length === 1, 'the delayed snapshot');
    expect(client.statuses().find((m) => m.status === 'mode')).toMatchObject({
      params: 'Q.ENDS',
      mode: 'delayed',
      reason: 'grant_expired',
    });
    const [tradeStatus, quoteStatus] = subscribeStatuses(client).slice(-2);
    expect(tradeStatus).toMatchObject({ mode: 'delayed', reason: 'grant_expired', snapshot: 'none' });
    expect(quoteStatus).toMatchObject({ mode: 'delayed', reason: 'grant_expired', snapshot: 'sent' });
    expect(client.events()[0]?.message).toEqual(wire(last));
    client.close();
    const kinds = (await usageOf('snap-ending', 1)).map((e) => e.kind);
    expect(kinds).not.toContain('first_access');
    expect(kinds).not.toContain('deliveries');
  });
});

describe('a Polygon SDK client, unchanged', () => {
  it('gets the statuses it always got and no snapshot, though a last value exists', async () => {
    const last = quote('PLAIN', 3, Date.now() - 500);
    await setLastValues(fx.bus, [last]);
    const socket = sdkApp(fx.port, pro.token, 'Q.PLAIN');
    const { messages } = socket;
    try {
      await until(() => messages.some((m) => m.status === 'success'), 'subscription status');
      expect(messages).toEqual([
        { ev: 'status', status: 'connected', message: 'Connected Successfully' },
        { ev: 'status', status: 'auth_success', message: 'authenticated' },
        { ev: 'status', status: 'success', message: 'subscribed to: Q.PLAIN', mode: 'realtime' },
      ]);
      const sent = quote('PLAIN', 3);
      await publish(fx.bus, [sent]);
      await until(() => messages.some((m) => m.ev === 'Q'), 'a quote');
      expect(messages.filter((m) => m.ev === 'Q')).toEqual([expect.objectContaining({ q: sent.q })]);
    } finally {
      socket.close();
    }
  });

  it('treats "snapshot":false as no snapshot at all', async () => {
    await setLastValues(fx.bus, [quote('NOSNAP', 1)]);
    const client = await Client.authenticated(fx.port, pro.token);
    await settle(client, { action: 'subscribe', params: 'Q.NOSNAP', snapshot: false });
    expect(subscribeStatuses(client)).toEqual([
      {
        ev: 'status',
        status: 'success',
        message: 'subscribed to: Q.NOSNAP',
        mode: 'realtime',
      },
    ]);
    expect(client.events()).toEqual([]);
    client.close();
  });
});

describe('bad snapshot values', () => {
  it('are refused with a 400 that says what to send; nothing is subscribed and the socket stays', async () => {
    await setLastValues(fx.bus, [quote('BAD', 1)]);
    const client = await Client.authenticated(fx.port, pro.token);
    const bad = ['yes', 1, null, {}, ['Q.BAD']];
    for (const snapshot of bad) client.send({ action: 'subscribe', params: 'Q.BAD', snapshot });
    client.send({ action: 'unsubscribe', params: 'Q.BAD', snapshot: true });
    const errorsOf = () => client.statuses().filter((m) => m.status === 'error');
    await until(() => errorsOf().length === bad.length + 1, 'an error for each');
    const errors = errorsOf();
    for (const error of errors.slice(0, bad.length)) {
      expect(error).toMatchObject({ status: 'error', code: 400 });
      expect(String(error.message)).toContain('snapshot must be true or false');
    }
    expect(String(errors[0]?.message)).toContain('(not "yes")');
    expect(errors.at(-1)).toMatchObject({ status: 'error', code: 400 });
    expect(String(errors.at(-1)?.message)).toContain('snapshot is an option of subscribe only');
    // Nothing was subscribed: a quote now reaches no one.
    await publish(fx.bus, [quote('BAD', 1)]);
    await settle(client, { action: 'subscribe', params: 'Q.OTHER' });
    expect(client.events()).toEqual([]);
    expect(subscribeStatuses(client).map((m) => m.message)).toEqual(['subscribed to: Q.OTHER']);
    expect(client.closed).toBeUndefined();
    client.close();
  });

  it('are told apart by the parser', () => {
    const parse = (message: unknown) => parseClientMessage(JSON.stringify(message));
    expect(parse({ action: 'subscribe', params: 'Q.A', snapshot: true })).toEqual({
      ok: true,
      message: { action: 'subscribe', params: ['Q.A'], snapshot: true, offsets: false },
    });
    expect(parse({ action: 'subscribe', params: 'Q.A' })).toEqual({
      ok: true,
      message: { action: 'subscribe', params: ['Q.A'], snapshot: false, offsets: false },
    });
    expect(parse({ action: 'subscribe', params: 'Q.A', snapshot: 'x'.repeat(100) })).toMatchObject({
      ok: false,
      error: expect.stringContaining('…)'),
    });
    expect(parse({ action: 'auth', params: 'mdu_x', snapshot: true })).toMatchObject({ ok: false });
    expect(parse({ action: 'unsubscribe', params: 'Q.A' })).toEqual({
      ok: true,
      message: { action: 'unsubscribe', params: ['Q.A'] },
    });
  });
});
