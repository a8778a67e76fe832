import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../entitlements/index.js';
import type { UsageEvent } from '../../usage/index.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, publish, quote, readUsage, run, until, waitForToken } from './helpers.js';

let fx: DistributionFixture;
const seen: UsageEvent[] = [];

/** Everything on the usage stream so far. */
async function usage(): Promise<UsageEvent[]> {
  seen.push(...(await readUsage(fx.bus, 'meter-test')));
  return seen;
}

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'meter',
    options: { usageFlushMs: 300 },
    lastValues: [quote('AAA', 1)],
  });
});

afterAll(() => fx?.close());

describe('display metering', () => {
  it('emits one first access per (user, product, day) and flushes counts equal to what clients received', async () => {
    const user = await fx.user('meter-pro', { realtime: ['CTA_A'], deviceId: 'desk-7' });
    const visitor = await fx.user('meter-visitor');
    const a = await Client.authenticated(fx.port, user.token);
    const b = await Client.authenticated(fx.port, user.token);
    const delayed = await Client.authenticated(fx.port, visitor.token);
    for (const client of [a, b, delayed]) await client.subscribe('Q.AAA');
    for (let round = 0; round < 3; round++) {
      await publish(
        fx.bus,
        Array.from({ length: 5 }, () => quote('AAA', 1)),
      );
      await sleep(20);
    }
    await until(
      () => a.events('Q').length === 15 && b.events('Q').length === 15,
      'every quote at both sessions',
    );
    // A flush while the sessions are open, then the rest flushed when they close.
    await until(async () => (await usage()).some((e) => e.kind === 'deliveries'), 'a periodic flush');
    a.close();
    await a.waitClosed();
    await publish(fx.bus, [quote('AAA', 1), quote('AAA', 1)]);
    await until(() => b.events('Q').length === 17, 'more quotes at the open session');
    b.close();
    delayed.close();
    await until(
      async () => (await usage()).filter((e) => e.kind === 'session_close').length === 3,
      'session ends',
    );

    const events = await usage();
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const mine = events.filter((e) => e.user === 'meter-pro');
    const opens = mine.filter((e) => e.kind === 'session_open');
    expect(opens).toHaveLength(2);
    // The UTC day of the event's own time, not of the test's clock, which may have passed midnight since.
    const openedAt = (opens[0] as { at: number }).at;
    expect(opens[0]).toMatchObject({
      device: 'desk-7',
      edge: expect.any(String),
      day: new Date(openedAt).toISOString().slice(0, 10),
    });
    const firsts = mine.filter((e) => e.kind === 'first_access');
    expect(firsts).toHaveLength(1);
    expect(firsts[0]).toMatchObject({ product: 'CTA_A', device: 'desk-7' });
    expect(firsts[0]?.id).toMatch(/^fa_/);
    const delivered = (session: string) =>
      mine.reduce((sum, e) => sum + (e.kind === 'deliveries' && e.session === session ? e.count : 0), 0);
    const [sessionA, sessionB] = opens.map((e) => (e.kind === 'session_open' ? e.session : ''));
    expect(delivered(sessionA as string)).toBe(a.events('Q').length);
    expect(delivered(sessionB as string)).toBe(b.events('Q').length);
    expect(
      mine
        .filter((e) => e.kind === 'deliveries')
        .every((e) => e.kind === 'deliveries' && e.product === 'CTA_A'),
    ).toBe(true);
    expect(
      mine.filter((e) => e.kind === 'session_close').map((e) => e.kind === 'session_close' && e.reason),
    ).toEqual(['client', 'client']);
    const visitorEvents = events.filter((e) => e.user === 'meter-visitor').map((e) => e.kind);
    expect(visitorEvents.sort()).toEqual(['session_close', 'session_open']);
  });

  it("meters nothing sent after the client's close frame, while its socket is still closing", async () => {
    const user = await fx.user('meter-closing', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(fx.port, user.token);
    await client.subscribe('Q.AAA');
    await publish(fx.bus, [quote('AAA', 1), quote('AAA', 1), quote('AAA', 1)]);
    await until(() => client.events('Q').length === 3, 'three quotes');
    // A close frame (masked, no payload) straight onto the wire, the client then reading nothing:
    // the edge's socket is closing, its close event ~30 s away, and whatever it sends is dropped.
    const tcp = (client.ws as unknown as { _socket: import('node:net').Socket })._socket;
    tcp.pause();
    tcp.write(Buffer.from([0x88, 0x80, 0, 0, 0, 0]));
    // Time for the edge to read it (a loaded machine may take a while): the frames below follow it.
    await sleep(1_000);
    await publish(
      fx.bus,
      Array.from({ length: 5 }, () => quote('AAA', 1)),
    );
    await sleep(500);
    client.ws.terminate();
    await until(
      async () => (await usage()).some((e) => e.kind === 'session_close' && e.user === 'meter-closing'),
      'the session closed',
    );
    const delivered = (await usage()).reduce(
      (sum, e) => sum + (e.kind === 'deliveries' && e.user === 'meter-closing' ? e.count : 0),
      0,
    );
    expect(delivered).toBe(3);
  });

  it("tags an application's events non_display and names its first access apart from the person's", async () => {
    const person = await fx.user('meter-both', { realtime: ['CTA_A'] });
    const app = await run(fx.hub, (ctx) =>
      issueToken({ ctx, input: { userId: 'meter-both', usage: 'non_display' } }),
    );
    await waitForToken(fx.port, app.token);
    const display = await Client.authenticated(fx.port, person.token);
    const machine = await Client.authenticated(fx.port, app.token);
    for (const client of [display, machine]) await client.subscribe('Q.AAA');
    await publish(fx.bus, [quote('AAA', 1)]);
    await display.waitFor((m) => m.ev === 'Q');
    await machine.waitFor((m) => m.ev === 'Q');
    display.close();
    machine.close();
    await until(
      async () =>
        (await usage()).filter((e) => e.kind === 'session_close' && e.user === 'meter-both').length === 2,
      'both sessions closed',
    );
    const mine = (await usage()).filter((e) => e.user === 'meter-both');
    const firsts = mine.filter((e) => e.kind === 'first_access');
    expect(firsts.map((e) => e.usage ?? 'display').sort()).toEqual(['display', 'non_display']);
    expect(new Set(firsts.map((e) => e.id)).size).toBe(2);
    // Every event of the application's session says so; the person's carry no usage at all.
    const sessions = new Map(
      mine
        .filter((e) => e.kind === 'session_open')
        .map((e) => [e.kind === 'session_open' && e.session, e.usage]),
    );
    expect([...sessions.values()].sort()).toEqual(['non_display', undefined]);
    for (const e of mine) {
      if (e.kind === 'query') continue;
      expect(e.usage, e.kind).toBe(sessions.get(e.session));
    }
    expect(
      mine
        .filter((e) => e.kind === 'deliveries')
        .map((e) => e.usage ?? 'display')
        .sort(),
    ).toEqual(['display', 'non_display']);
  });

  it('names a first access by (user, product, day) alone, so every edge and restart names it the same', async () => {
    const user = await fx.user('meter-again', { realtime: ['CTA_A'] });
    const first = await Client.authenticated(fx.port, user.token);
    await first.subscribe('Q.AAA');
    await publish(fx.bus, [quote('AAA', 1)]);
    await first.waitFor((m) => m.ev === 'Q');
    first.close();
    await until(
      async () => (await usage()).some((e) => e.kind === 'first_access' && e.user === 'meter-again'),
      'first access',
    );
    const firsts = (await usage()).filter((e) => e.kind === 'first_access' && e.user === 'meter-again');
    const ids = firsts.map((e) => e.id);
    expect(ids).toHaveLength(1);
    const { createHash } = await import('node:crypto');
    // The day the event was counted on, from its own time: the test's clock may have passed midnight.
    const day = new Date((firsts[0] as { at: number }).at).toISOString().slice(0, 10);
    const expected = `fa_${createHash('sha256')
      .update(JSON.stringify(['meter-again', 'CTA_A', day]))
      .digest('base64url')
      .slice(0, 32)}`;
    expect(ids[0]).toBe(expected);
  });
});
