/**
 * The drill's checker, on logs made up to contain exactly the faults it must catch: a checker that
 * finds nothing proves nothing unless it is shown to find them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DELAYED, DrillClient, REALTIME } from '../../drill/clients.js';
import { clientTruth, compareLedger, EntitlementHistory } from '../../drill/ground-truth.js';
import { LoopStalls } from '../../drill/stalls.js';
import { openTestDb, type TestDb } from '../helpers/db.js';

const T0 = Date.UTC(2026, 10, 2, 12);
const DELAY = 3_000;
const PRODUCTS = ['CTA_A', 'CTA_B', 'UTP'];
const LICENSOR = new Map([
  ['CTA_A', 'CTA'],
  ['CTA_B', 'CTA'],
  ['UTP', 'UTP'],
]);

let testDb: TestDb;
let history: EntitlementHistory;

beforeAll(async () => {
  testDb = await openTestDb('pglite');
  const { db } = testDb;
  for (const id of ['granted', 'revoked', 'no-agreement'])
    await db.query('insert into users (id, created_at) values ($1, $2)', [id, T0 - 60_000]);
  for (const id of ['granted', 'revoked'])
    await db.query(
      `insert into agreements (user_id, licensor, version, accepted_at) values ($1, 'CTA', 'v1', $2)`,
      [id, T0 - 60_000],
    );
  const grant =
    'insert into grants (user_id, product, valid_from, created_at, created_by, revoked_at, revoked_by) values ($1, $2, $3, $3, $4, $5, $6)';
  await db.query(grant, ['granted', 'CTA_A', T0, 'op', null, null]);
  await db.query(grant, ['revoked', 'CTA_A', T0, 'op', T0 + 10_000, 'op']);
  await db.query(grant, ['no-agreement', 'CTA_A', T0, 'op', null, null]);
  history = await EntitlementHistory.load(db, LICENSOR);
});

afterAll(async () => {
  await testDb.cleanup();
});

/** A client whose log holds the given events: [receipt, vendor t, mode], all CTA_A. */
function clientWith(user: string, events: Array<[number, number, number]>): DrillClient {
  const client = new DrillClient({ user, token: 't', channels: ['Q.AA0'] }, ['ws://unused'], 0, {
    byTape: [-1, 0, 1, 2],
    ids: PRODUCTS,
  });
  events.forEach(([recv, t, mode], q) => {
    client.log.push(recv, t, q + 1, 0, mode, 0);
  });
  return client;
}

const check = (clients: DrillClient[]) =>
  clientTruth(clients, history, { delayMs: DELAY, switchWindowMs: 1_000, productIds: PRODUCTS });

describe('drill ground truth', () => {
  it('finds no leak in real time received while granted, or within 1 s of the revocation', () => {
    const truth = check([
      clientWith('granted', [[T0 + 5, T0, REALTIME]]),
      clientWith('revoked', [[T0 + 10_900, T0 + 10_890, REALTIME]]),
    ]);
    expect(truth.leaks).toEqual([]);
    expect(truth.deliveries.get('granted CTA_A 2026-11-02')).toBe(1);
  });

  it('flags real time more than 1 s after the revocation, before the grant, or without the agreement', () => {
    const truth = check([
      clientWith('revoked', [[T0 + 11_001, T0 + 11_000, REALTIME]]),
      clientWith('granted', [[T0 - 1, T0 - 2, REALTIME]]),
      clientWith('no-agreement', [[T0 + 5, T0, REALTIME]]),
    ]);
    expect(truth.leaks.map((l) => l.user).sort()).toEqual(['granted', 'no-agreement', 'revoked']);
  });

  it("judges real time read during the drill's own stall at the earliest instant it could have arrived", () => {
    const stalls = new LoopStalls();
    // The drill's loop blocked from 400 ms after the revocation until 1 250 ms after it.
    stalls.stalls.push({ from: T0 + 10_400, to: T0 + 11_250 });
    const late = (t: number, recv: number) => clientWith('revoked', [[recv, t, REALTIME]]);
    const judged = (clients: DrillClient[]) =>
      clientTruth(clients, history, { delayMs: DELAY, switchWindowMs: 1_000, productIds: PRODUCTS, stalls });
    // Sent 380 ms after the revocation, read 1 300 ms after it: it may have arrived at 390 ms.
    const excused = judged([late(T0 + 10_380, T0 + 11_300)]);
    expect(excused.leaks).toEqual([]);
    expect(excused.readLateByTheDrill).toHaveLength(1);
    // Its vendor time was already past the window: no stall explains it.
    const sentLate = judged([late(T0 + 11_050, T0 + 11_300)]);
    expect(sentLate.leaks).toHaveLength(1);
    // Read long after the stall ended: the receipt time stands.
    const after = judged([late(T0 + 10_380, T0 + 11_500)]);
    expect(after.leaks).toHaveLength(1);
    // And without the recorder, the same read is a leak.
    expect(check([late(T0 + 10_380, T0 + 11_300)]).leaks).toHaveLength(1);
  });

  it('excuses real time read late only when a mode status the edge stamped within the window followed it on the socket', () => {
    // Sent 500 ms after the revocation (vendor time), read 1 300 ms after it: past the window.
    const read = (status?: { sentAt: number; afterEvents: number; session?: number }) => {
      const client = clientWith('revoked', [[T0 + 11_300, T0 + 10_500, REALTIME]]);
      client.sessions.push({ edge: 0, connectedAt: T0 }, { edge: 1, connectedAt: T0 + 11_000 });
      if (status)
        client.modeChanges.push({
          at: T0 + 11_310,
          channel: 'Q.AA0',
          mode: 'delayed',
          reason: 'no_grant',
          session: status.session ?? 0,
          sentAt: status.sentAt,
          afterEvents: status.afterEvents,
        });
      return check([client]);
    };
    // The edge switched 600 ms after the revocation, and the event came before that status.
    const inTime = read({ sentAt: T0 + 10_600, afterEvents: 1 });
    expect(inTime.leaks).toEqual([]);
    expect(inTime.sentInTime).toHaveLength(1);
    expect(inTime.sentInTime[0]?.detail).toContain("before the edge's mode status sent at");
    // Stamped past the window: the event may have been sent then.
    expect(read({ sentAt: T0 + 11_050, afterEvents: 1 }).leaks).toHaveLength(1);
    // A status read before the event says nothing of when the event was sent.
    expect(read({ sentAt: T0 + 10_600, afterEvents: 0 }).leaks).toHaveLength(1);
    // Nor does one on another connection.
    expect(read({ sentAt: T0 + 10_600, afterEvents: 1, session: 1 }).leaks).toHaveLength(1);
    // Nor none at all.
    expect(read().leaks).toHaveLength(1);
  });

  it('treats fresh data labelled delayed as both early and, for an unentitled user, a leak', () => {
    const truth = check([clientWith('no-agreement', [[T0 + 100, T0, DELAYED]])]);
    expect(truth.earlyDelayed).toHaveLength(1);
    expect(truth.leaks).toHaveLength(1);
  });

  it('accepts delayed data at exactly t + delay', () => {
    const truth = check([clientWith('no-agreement', [[T0 + DELAY, T0, DELAYED]])]);
    expect(truth.earlyDelayed).toEqual([]);
    expect(truth.leaks).toEqual([]);
  });

  it('counts what a SIGTERMed edge failed to flush as usage lost, never as bounded loss', async () => {
    // Three real-time events from edge 1, the last two in its final flush interval; the ledger has one.
    const client = clientWith('granted', [
      [T0 + 100, T0 + 90, REALTIME],
      [T0 + 9_500, T0 + 9_490, REALTIME],
      [T0 + 9_900, T0 + 9_890, REALTIME],
    ]);
    client.sessions.push({ edge: 1, connectedAt: T0, subscribedAt: T0, closedAt: T0 + 10_000 });
    await testDb.db.query(
      `insert into usage_daily (product, day, user_id, device_id, first_realtime_at, deliveries)
       values ('CTA_A', '2026-11-02', 'granted', '', $1, 1)`,
      [T0 + 100],
    );
    const truth = clientTruth([client], history, {
      delayMs: DELAY,
      switchWindowMs: 1_000,
      productIds: PRODUCTS,
      terminatedEdge: { index: 1, signalledAt: T0 + 10_000, exitedAt: T0 + 10_100, flushMs: 1_000 },
    });
    const ledger = await compareLedger(testDb.db, truth, new Set(['granted']));
    expect(ledger.lostAtTermination).toBe(2);
    expect(ledger.boundedLoss).toBe(0);
    expect(ledger.lostElsewhere).toBe(0);
  });
});
