import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdTableLock } from '../../testing/index.js';
import { openTestDb } from '../helpers/db.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import {
  Client,
  closeAccount,
  grantRealtime,
  metric,
  quote,
  type Received,
  revokeGrant,
  ticker,
  until,
} from './helpers.js';

const DELAY_MS = 800;
let fx: DistributionFixture;

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'ent',
    delayMs: DELAY_MS,
    options: { delayIntervalMs: 50 },
    lastValues: [quote('IBM', 1), quote('GE', 1), quote('MSFT', 3), quote('XOM', 1), quote('KO', 1)],
  });
});

afterAll(() => fx?.close());

/** Events received no earlier than vendor time + delay, i.e. delayed ones. */
const delayed = (r: Received) => r.at >= (r.message.t as number) + DELAY_MS;

describe('entitlements at the edge', () => {
  it('a licensed user gets real time; an unlicensed one gets delayed events, never before t + delay', async () => {
    const pro = await fx.user('ent-pro', { realtime: ['CTA_A'] });
    const visitor = await fx.user('ent-visitor');
    const realtime = await Client.authenticated(fx.port, pro.token);
    const late = await Client.authenticated(fx.port, visitor.token);
    expect((await realtime.subscribe('Q.IBM'))[0]).toMatchObject({ status: 'success', mode: 'realtime' });
    const status = (await late.subscribe('Q.IBM'))[0];
    expect(status).toMatchObject({ status: 'success', mode: 'delayed', reason: 'no_grant' });
    expect(String(status?.message)).toContain('delayed by 800 ms');
    expect(String(status?.message)).toContain('There is no real-time subscription to this product.');

    const feed = ticker(fx.bus, [['IBM', 1]], 10);
    await sleep(600);
    await feed.stop();
    await until(() => late.events('Q').length >= 10, 'delayed quotes', 5_000);
    await sleep(DELAY_MS + 300);

    const rt = realtime.events('Q');
    expect(rt.length).toBeGreaterThan(20);
    expect(rt.every((r) => r.at - (r.message.t as number) < DELAY_MS)).toBe(true);
    const lateEvents = late.events('Q');
    expect(lateEvents.length).toBeGreaterThan(0);
    for (const event of lateEvents)
      expect(event.at).toBeGreaterThanOrEqual((event.message.t as number) + DELAY_MS);
    realtime.close();
    late.close();
  });

  it('a revoked user is downgraded to delayed, told why, and gets no real-time event after', async () => {
    const user = await fx.user('ent-revoked', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(fx.port, user.token);
    expect((await client.subscribe('Q.GE'))[0]).toMatchObject({ mode: 'realtime' });
    const feed = ticker(fx.bus, [['GE', 1]], 10);
    await until(() => client.events('Q').length > 5, 'real-time quotes');
    const revokedFrom = Date.now();
    await revokeGrant(fx.hub, user.id, 'CTA_A');
    const change = await client.waitFor((m) => m.status === 'mode');
    const announcedAt = client.received.find((r) => r.message === change)?.at as number;
    expect(change).toMatchObject({
      ev: 'status',
      status: 'mode',
      params: 'Q.GE',
      mode: 'delayed',
      reason: 'no_grant',
    });
    // `at`: the edge's clock as it switched, after the revocation, no later than the client read it.
    expect(change.at).toBeGreaterThanOrEqual(revokedFrom);
    expect(change.at).toBeLessThanOrEqual(announcedAt);
    expect(String(change.message)).toContain('Q.GE is now delayed');
    await sleep(DELAY_MS + 400);
    await feed.stop();
    const after = client.received.filter((r) => r.at > announcedAt && r.message.ev === 'Q');
    expect(after.length).toBeGreaterThan(0);
    expect(after.every(delayed)).toBe(true);
    client.close();
  });

  it('a grant given while connected upgrades the subscription to real time', async () => {
    const user = await fx.user('ent-upgraded');
    const client = await Client.authenticated(fx.port, user.token);
    expect((await client.subscribe('Q.MSFT'))[0]).toMatchObject({ mode: 'delayed', reason: 'no_grant' });
    const { run } = await import('./helpers.js');
    const { acceptAgreement } = await import('../../entitlements/index.js');
    await run(fx.hub, (ctx) => acceptAgreement({ ctx, input: { userId: user.id, product: 'UTP' } }));
    await grantRealtime(fx.hub, user.id, 'UTP');
    const change = await client.waitFor((m) => m.status === 'mode' && m.mode === 'realtime');
    expect(change).toMatchObject({ params: 'Q.MSFT', message: 'Q.MSFT is now real time' });
    const feed = ticker(fx.bus, [['MSFT', 3]], 10);
    await until(() => client.events('Q').some((r) => !delayed(r)), 'a real-time quote');
    await feed.stop();
    client.close();
  });

  it('a grant ending at an instant stops real time at that instant', async () => {
    const endsAt = Date.now() + 1_500;
    const user = await fx.user('ent-expiring', { realtime: ['CTA_A'], validTo: endsAt });
    const client = await Client.authenticated(fx.port, user.token);
    expect((await client.subscribe('Q.XOM'))[0]).toMatchObject({ mode: 'realtime' });
    const feed = ticker(fx.bus, [['XOM', 1]], 5);
    const change = await client.waitFor((m) => m.status === 'mode', 4_000);
    expect(change).toMatchObject({ params: 'Q.XOM', mode: 'delayed', reason: 'grant_expired' });
    await sleep(DELAY_MS + 300);
    await feed.stop();
    const events = client.events('Q');
    expect(events.some((r) => (r.message.t as number) < endsAt && !delayed(r))).toBe(true);
    // Nothing that happened at or after the grant's end arrived in real time.
    const afterEnd = events.filter((r) => (r.message.t as number) >= endsAt);
    expect(afterEnd.length).toBeGreaterThan(0);
    expect(afterEnd.every(delayed)).toBe(true);
    client.close();
  });

  it('a wildcard spanning products reports the mode of each product and delivers each accordingly', async () => {
    const user = await fx.user('ent-mixed', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(fx.port, user.token);
    const [wild] = await client.subscribe('Q.*');
    expect(wild).toMatchObject({
      status: 'success',
      mode: 'mixed',
      products: {
        CTA_A: { mode: 'realtime' },
        CTA_B: { mode: 'delayed', reason: 'no_grant' },
        UTP: { mode: 'delayed' },
      },
    });
    expect(String(wild?.message)).toContain('CTA_A: real time; CTA_B: delayed by 800 ms');
    const feed = ticker(
      fx.bus,
      [
        ['IBM', 1],
        ['MSFT', 3],
      ],
      10,
    );
    await sleep(DELAY_MS + 400);
    await feed.stop();
    const ibm = client.events('Q').filter((r) => r.message.sym === 'IBM');
    const msft = client.events('Q').filter((r) => r.message.sym === 'MSFT');
    expect(ibm.some((r) => !delayed(r))).toBe(true);
    expect(msft.length).toBeGreaterThan(0);
    expect(msft.every(delayed)).toBe(true);
    client.close();
  });

  it('a closed account is refused with 409 and gets nothing', async () => {
    const user = await fx.user('ent-closed', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(fx.port, user.token);
    expect((await client.subscribe('Q.IBM'))[0]).toMatchObject({ mode: 'realtime' });
    await closeAccount(fx.hub, user.id);
    expect(await client.waitFor((m) => m.status === 'mode', 1_000)).toMatchObject({
      mode: 'refused',
      reason: 'closed',
    });
    const second = await Client.authenticated(fx.port, user.token);
    const [refused] = await second.subscribe('Q.IBM');
    expect(refused).toMatchObject({ status: 'error', code: 409, mode: 'refused', reason: 'closed' });
    const feed = ticker(fx.bus, [['IBM', 1]], 10);
    await sleep(DELAY_MS + 300);
    await feed.stop();
    expect(second.events()).toEqual([]);
    client.close();
    second.close();
  });
});

describe('a change the edge knows of and cannot apply, on a starved edge', () => {
  it("withholds real time at the change's deadline by the send's clock, though the overdue timer has not fired", async () => {
    // An edge whose clock can run ahead of the entitlement cache's timers: a starved event loop,
    // where the instant has passed and the timer that would act on it has not run.
    let ahead = 0;
    const edge = await fx.edge({
      now: () => Date.now() + ahead,
      env: { MDHUB_ENTITLEMENT_VERIFY_MS: '10000' },
    });
    const user = await fx.user('ent-starved', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(edge.port, user.token);
    expect((await client.subscribe('Q.KO'))[0]).toMatchObject({ mode: 'realtime' });
    const feed = ticker(fx.bus, [['KO', 1]], 10);
    const locker = await openTestDb('postgres', { schema: fx.schema, migrated: false });
    try {
      await until(() => client.events('Q').length > 5, 'real-time quotes');
      // What an edge reads to reload a user: the revocation commits and is announced, and no
      // edge can apply it.
      const lock = await holdTableLock(locker.db, 'attestations, agreements, user_tokens');
      try {
        await revokeGrant(fx.hub, user.id, 'CTA_A');
        await sleep(300);
        expect(client.statuses().filter((m) => m.status === 'mode')).toEqual([]);
        const withheld = await metric(edge.port, 'mdhub_edge_realtime_withheld_total');
        // Past the change's deadline for the edge's sends; the cache's timer is ten seconds away.
        const aheadFrom = Date.now();
        ahead = 10_500;
        const change = await client.waitFor((m) => m.status === 'mode', 5_000);
        expect(change).toMatchObject({ params: 'Q.KO', mode: 'delayed', reason: 'unverified' });
        // Stamped by the edge's own clock, ten and a half seconds ahead of the client's since then.
        expect(change.at as number).toBeGreaterThanOrEqual(aheadFrom + 10_500);
        expect(await metric(edge.port, 'mdhub_edge_realtime_withheld_total')).toBeGreaterThan(withheld);
      } finally {
        await lock.release();
      }
      const applied = await client.waitFor((m) => m.status === 'mode' && m.reason === 'no_grant', 5_000);
      expect(applied).toMatchObject({ params: 'Q.KO', mode: 'delayed' });
    } finally {
      await feed.stop();
      await locker.db.close();
      client.close();
    }
  });
});
