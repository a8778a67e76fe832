/**
 * A scripted February–March 2026 for the ledger and report tests: entitlement history made with
 * the entitlements verbs, and the usage events edges would emit for it, in distribution's schema.
 * The expected reports are written by hand in the tests, from the story told here.
 *
 *   alice  non-professional (attested 2025-06-10); CTA + UTP agreements; CTA_A and UTP grants.
 *          CTA_A on her phone (edge e1, reconnecting to e2 the same morning) and on the web (e2);
 *          a session crossing the March/April boundary. UTP in real time on her phone only, a
 *          delayed snapshot on the web.
 *   bob    professional. CTA_A grant revoked 2026-03-10 12:00; CTA_B granted 2026-03-20, unused.
 *   carol  non-professional attestation of 2025-03-15 12:00 lapses 2026-03-15 12:00: professional
 *          for March. CTA_B: 10 real-time snapshots. UTP granted 2026-03-12, used on two devices.
 *   dave   non-professional, CTA_B per query: 200 real-time snapshots (over the cap), 3 delayed.
 *   erin   non-professional, CTA_B: a session from 2026-02-28 23:50 to 2026-03-01 00:30, and 40
 *          real-time snapshots.
 *   frank  professional, CTA_A grant but never accepted the agreement: never able to receive it.
 *   gina   CTA_A, used in February, revoked 2026-02-15.
 *   hank   no grant at all, yet the ledger shows CTA_A in real time (counted: never under-report).
 */
import { createHash } from 'node:crypto';
import { type Catalog, parseCatalog } from '../../config/index.js';
import {
  acceptAgreement,
  attest,
  type CatalogContext,
  createUser,
  grant,
  revoke,
  type VerbOutcome,
} from '../../entitlements/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import type { UsageEvent } from '../../usage/index.js';

export const ADMIN: Actor = { type: 'operator', id: 'root', role: 'admin' };
export const COMPLIANCE: Actor = { type: 'operator', id: 'cathy', role: 'compliance' };

/**
 * Three products covering both units and both bases: CTA_A per user on the entitled basis (and a
 * dearer schedule from April that March must not use), CTA_B with a capped per-query fee for
 * non-professionals, UTP per device on the accessed basis.
 */
export const SCRIPT_CATALOG = {
  version: 'test-2026.1',
  licensors: [
    { id: 'CTA', name: 'CTA', agreement: { name: 'NYSE Subscriber Agreement', version: '2024-01' } },
    {
      id: 'UTP',
      name: 'UTP',
      agreement: { name: 'Nasdaq Global Subscriber Agreement', version: '2024-01' },
    },
  ],
  products: [
    {
      id: 'CTA_A',
      name: 'Tape A',
      licensor: 'CTA',
      tape: 1,
      delayMs: 900000,
      delayedAllowed: true,
      unit: 'user',
      basis: 'entitled',
      fees: [
        {
          effectiveFrom: '2024-01-01',
          source: 'test, 2024',
          professional: { type: 'monthly', amount: '45.00' },
          non_professional: { type: 'monthly', amount: '5.25' },
        },
        {
          effectiveFrom: '2026-04-01',
          source: 'test, 2026',
          professional: { type: 'monthly', amount: '50.00' },
          non_professional: { type: 'monthly', amount: '6.00' },
        },
      ],
    },
    {
      id: 'CTA_B',
      name: 'Tape B',
      licensor: 'CTA',
      tape: 2,
      delayMs: 900000,
      delayedAllowed: true,
      unit: 'user',
      basis: 'entitled',
      fees: [
        {
          effectiveFrom: '2024-01-01',
          source: 'per packet, "capped"',
          professional: { type: 'monthly', amount: '13.65' },
          non_professional: { type: 'per_query', perQuery: '0.0075', cap: '1.00' },
        },
      ],
    },
    {
      id: 'UTP',
      name: 'Tape C',
      licensor: 'UTP',
      tape: 3,
      delayMs: 900000,
      delayedAllowed: true,
      unit: 'device',
      basis: 'accessed',
      fees: [
        {
          effectiveFrom: '2018-04-01',
          source: 'test',
          professional: { type: 'monthly', amount: '24.00' },
          non_professional: { type: 'monthly', amount: '1.00' },
        },
      ],
    },
  ],
};

export function scriptCatalog(): Catalog {
  return parseCatalog(structuredClone(SCRIPT_CATALOG), 'script catalog');
}

/** `Date.UTC` from an ISO-8601 UTC text, for readable scripts. */
export function t(iso: string): number {
  const at = Date.parse(iso);
  if (Number.isNaN(at) || !iso.endsWith('Z')) throw new Error(`not a UTC time: ${iso}`);
  return at;
}

type Step = (ctx: CatalogContext) => Promise<VerbOutcome<unknown>>;

/** The entitlement history, verb by verb, in the order an operator would have made it. */
export async function scriptHistory(db: Db, catalog: Catalog): Promise<void> {
  const steps: Array<[string, Actor, Step]> = [];
  const at = (iso: string, actor: Actor, step: Step) => steps.push([iso, actor, step]);
  const user = (iso: string, id: string) => at(iso, ADMIN, (ctx) => createUser({ ctx, input: { id } }));
  const nonPro = (iso: string, userId: string) =>
    at(iso, COMPLIANCE, (ctx) =>
      attest({ ctx, input: { userId, status: 'non_professional', answers: { q1: 'no' } } }),
    );
  const agree = (iso: string, userId: string, product: string) =>
    at(iso, COMPLIANCE, (ctx) => acceptAgreement({ ctx, input: { userId, product } }));
  const give = (iso: string, userId: string, product: string) =>
    at(iso, ADMIN, (ctx) => grant({ ctx, input: { userId, product } }));
  const take = (iso: string, userId: string, product: string) =>
    at(iso, ADMIN, (ctx) => revoke({ ctx, input: { userId, product } }));

  user('2025-03-15T11:00:00Z', 'carol');
  nonPro('2025-03-15T12:00:00Z', 'carol');
  user('2025-06-10T08:00:00Z', 'alice');
  nonPro('2025-06-10T09:00:00Z', 'alice');
  const jan5 = '2026-01-05T00:00:00Z';
  for (const id of ['bob', 'dave', 'erin', 'frank', 'gina', 'hank']) user(jan5, id);
  for (const id of ['alice', 'bob', 'carol', 'dave', 'erin', 'gina']) agree(jan5, id, 'CTA_A');
  agree(jan5, 'alice', 'UTP');
  give(jan5, 'alice', 'CTA_A');
  give(jan5, 'alice', 'UTP');
  give(jan5, 'bob', 'CTA_A');
  give(jan5, 'carol', 'CTA_B');
  give(jan5, 'dave', 'CTA_B');
  give(jan5, 'erin', 'CTA_B');
  give(jan5, 'frank', 'CTA_A');
  give(jan5, 'gina', 'CTA_A');
  nonPro('2026-01-20T00:00:00Z', 'dave');
  nonPro('2026-02-01T00:00:00Z', 'erin');
  take('2026-02-15T00:00:00Z', 'gina', 'CTA_A');
  take('2026-03-10T12:00:00Z', 'bob', 'CTA_A');
  agree('2026-03-12T08:00:00Z', 'carol', 'UTP');
  give('2026-03-12T08:00:00Z', 'carol', 'UTP');
  give('2026-03-20T00:00:00Z', 'bob', 'CTA_B');

  for (const [iso, actor, step] of steps) {
    await db.transaction((tx) => step({ actor, tx, at: t(iso), catalog }));
  }
}

/** Builds events as edges do; ids are sequential so a run is reproducible. */
class Script {
  readonly events: UsageEvent[] = [];
  #n = 0;

  #common(
    edge: string,
    user: string,
    device: string | null,
    at: number,
    day = new Date(at).toISOString().slice(0, 10),
  ) {
    return { v: 1 as const, id: `ev-${String(++this.#n).padStart(4, '0')}`, edge, at, day, user, device };
  }

  /** A session on `edge`: open, first access per product and day, flushes, close. */
  session(
    edge: string,
    session: string,
    user: string,
    device: string | null,
    openedAt: string,
    closedAt: string,
    product: string,
    flushes: Array<{ at: string; day?: string; count: number; first: string; last: string }>,
  ): void {
    const opened = t(openedAt);
    this.events.push({ ...this.#common(edge, user, device, opened), kind: 'session_open', session });
    const firstDays = new Set<string>();
    for (const flush of flushes) {
      const day = flush.day ?? flush.first.slice(0, 10);
      if (!firstDays.has(day)) {
        firstDays.add(day);
        this.events.push({
          ...this.#common(edge, user, device, t(flush.first), day),
          // As the edge names it: one id per (user, product, day), whichever edge sends it.
          id: `fa_${createHash('sha256')
            .update(JSON.stringify([user, product, day]))
            .digest('base64url')
            .slice(0, 32)}`,
          kind: 'first_access',
          session,
          product,
        });
      }
      this.events.push({
        ...this.#common(edge, user, device, t(flush.at), day),
        kind: 'deliveries',
        session,
        product,
        count: flush.count,
        firstAt: t(flush.first),
        lastAt: t(flush.last),
      });
    }
    this.events.push({
      ...this.#common(edge, user, device, t(closedAt)),
      kind: 'session_close',
      session,
      openedAt: opened,
      reason: 'client',
    });
  }

  /** `n` REST snapshots, `everyMs` apart from `from`. */
  queries(
    edge: string,
    user: string,
    device: string | null,
    product: string,
    mode: 'realtime' | 'delayed',
    from: string,
    n: number,
    everyMs: number,
  ): void {
    for (let i = 0; i < n; i++) {
      this.events.push({
        ...this.#common(edge, user, device, t(from) + i * everyMs),
        kind: 'query',
        product,
        symbol: 'IBM',
        type: 'Q',
        mode,
        requestId: `req-${this.#n}`,
      });
    }
  }
}

/** The usage events of the scripted months, each once, in the order the edges emitted them. */
export function scriptEvents(): UsageEvent[] {
  const s = new Script();
  s.session('e1', 'g1', 'gina', 'gina-pc', '2026-02-10T10:00:00Z', '2026-02-10T10:30:00Z', 'CTA_A', [
    { at: '2026-02-10T10:30:00Z', count: 30, first: '2026-02-10T10:00:01Z', last: '2026-02-10T10:29:00Z' },
  ]);
  s.session('e2', 'r1', 'erin', 'erin-laptop', '2026-02-28T23:50:00Z', '2026-03-01T00:30:00Z', 'CTA_B', [
    // The rollover flush arrives after midnight but counts on the day that ended.
    {
      at: '2026-03-01T00:00:05Z',
      day: '2026-02-28',
      count: 9,
      first: '2026-02-28T23:51:00Z',
      last: '2026-02-28T23:59:59Z',
    },
    { at: '2026-03-01T00:30:00Z', count: 20, first: '2026-03-01T00:00:10Z', last: '2026-03-01T00:29:50Z' },
  ]);
  // alice's phone drops off e1 and reconnects to e2: e2 sends the day's first access again.
  s.session('e1', 'a1', 'alice', 'alice-phone', '2026-03-02T09:29:50Z', '2026-03-02T10:00:00Z', 'CTA_A', [
    { at: '2026-03-02T10:00:00Z', count: 120, first: '2026-03-02T09:30:00Z', last: '2026-03-02T09:59:58Z' },
  ]);
  s.session('e2', 'a2', 'alice', 'alice-phone', '2026-03-02T10:01:00Z', '2026-03-02T11:00:00Z', 'CTA_A', [
    { at: '2026-03-02T11:00:00Z', count: 50, first: '2026-03-02T10:01:01Z', last: '2026-03-02T10:45:00Z' },
  ]);
  s.session('e2', 'a3', 'alice', 'alice-web', '2026-03-03T13:59:00Z', '2026-03-03T15:00:00Z', 'CTA_A', [
    { at: '2026-03-03T15:00:00Z', count: 10, first: '2026-03-03T14:00:00Z', last: '2026-03-03T14:30:00Z' },
  ]);
  s.session('e1', 'b1', 'bob', 'bob-desk', '2026-03-03T08:59:00Z', '2026-03-03T09:10:00Z', 'CTA_A', [
    { at: '2026-03-03T09:10:00Z', count: 100, first: '2026-03-03T09:00:00Z', last: '2026-03-03T09:09:59Z' },
  ]);
  s.queries('e3', 'carol', 'carol-tab', 'CTA_B', 'realtime', '2026-03-04T10:00:00Z', 10, 60_000);
  s.session('e1', 'a4', 'alice', 'alice-phone', '2026-03-05T08:00:00Z', '2026-03-05T08:10:00Z', 'UTP', [
    { at: '2026-03-05T08:10:00Z', count: 5, first: '2026-03-05T08:00:05Z', last: '2026-03-05T08:09:00Z' },
  ]);
  s.queries('e2', 'alice', 'alice-web', 'UTP', 'delayed', '2026-03-06T12:00:00Z', 1, 0);
  s.session('e1', 'h1', 'hank', 'hank-pc', '2026-03-09T11:00:00Z', '2026-03-09T11:01:00Z', 'CTA_A', [
    { at: '2026-03-09T11:01:00Z', count: 2, first: '2026-03-09T11:00:00Z', last: '2026-03-09T11:00:30Z' },
  ]);
  s.queries('e1', 'dave', 'dave-phone', 'CTA_B', 'realtime', '2026-03-10T12:00:00Z', 200, 1000);
  s.queries('e2', 'erin', 'erin-laptop', 'CTA_B', 'realtime', '2026-03-11T16:00:00Z', 40, 30_000);
  s.session('e3', 'c1', 'carol', 'carol-tab', '2026-03-14T09:00:00Z', '2026-03-14T09:30:00Z', 'UTP', [
    { at: '2026-03-14T09:30:00Z', count: 7, first: '2026-03-14T09:00:01Z', last: '2026-03-14T09:20:00Z' },
  ]);
  s.session('e1', 'c2', 'carol', 'carol-phone', '2026-03-20T18:00:00Z', '2026-03-20T18:05:00Z', 'UTP', [
    { at: '2026-03-20T18:05:00Z', count: 3, first: '2026-03-20T18:00:02Z', last: '2026-03-20T18:04:00Z' },
  ]);
  s.queries('e3', 'dave', 'dave-phone', 'CTA_B', 'delayed', '2026-03-25T09:00:00Z', 3, 1000);
  s.session('e1', 'a5', 'alice', 'alice-phone', '2026-03-31T23:58:00Z', '2026-04-01T00:05:00Z', 'CTA_A', [
    {
      at: '2026-04-01T00:00:01Z',
      day: '2026-03-31',
      count: 4,
      first: '2026-03-31T23:58:30Z',
      last: '2026-03-31T23:59:59Z',
    },
    { at: '2026-04-01T00:05:00Z', count: 6, first: '2026-04-01T00:00:02Z', last: '2026-04-01T00:04:00Z' },
  ]);
  return s.events;
}

/** The ledger tables in a fixed order, for comparing two ledgers. */
export async function dumpLedger(db: Db): Promise<unknown> {
  const daily = await db.query(
    `select product, day, user_id, device_id, first_realtime_at, last_realtime_at, deliveries, queries,
        realtime_queries, sessions from usage_daily order by product, day, user_id, device_id`,
  );
  const sessions = await db.query(
    'select edge_id, session_id, user_id, device_id, opened_at, closed_at, close_reason from usage_sessions order by edge_id, session_id',
  );
  const seen = await db.query<{ n: number }>('select count(*)::int8 as n from usage_events_seen');
  return { daily: daily.rows, sessions: sessions.rows, seen: seen.rows[0]?.n };
}
