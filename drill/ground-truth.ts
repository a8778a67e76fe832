/**
 * Ground truth from the client logs, checked against what the hub recorded.
 *
 * The rules, stated once:
 * - An event is **real time** for a client when the client's subscription was in mode `realtime`
 *   as it arrived, or when it arrived before `t + delay` whatever the mode (fresh data is real-time
 *   data, whatever the label).
 * - **Leak**: a real-time event of product P received by user U at instant r, where, by the hub's
 *   own entitlement history (the `grants` and `agreements` tables), U had not accepted P's
 *   licensor agreement by r, or r is before the grant's `valid_from`, or r is more than
 *   `switchWindowMs` (1 000 ms, DESIGN rule 5) after the grant's end (`revoked_at` or `valid_to`).
 *   The window only ever excuses real time after an end; nothing excuses it before a grant. An
 *   event read past the window is not a leak when the edge provably sent it within: a live mode
 *   status that followed it on the same socket carries the edge's clock as it was sent (`at`),
 *   and one grant span covers the event's vendor time through that instant (`sentInTime`); nor,
 *   listed apart, when the drill's own loop stalled and it was within at its earliest arrival.
 * - **Early delayed**: an event received in mode `delayed` before `t + delay` (DESIGN rule 4; no
 *   tolerance: edge and vendor share this machine's clock).
 * - **Metering**: per (user, product, UTC day), the ledger's delivery count must equal the events
 *   the clients received in mode `realtime`, and its first real-time access must exist exactly
 *   when the clients received one, and not after the first receipt. A ledger count above the
 *   clients' is double counting. A count below is lost usage; it is attributed to the edge kill
 *   when the user had a session on the killed edge, else it is unexplained. A SIGTERMed edge has
 *   no bound: what a shortfall its last flush interval could explain is reported against it (as
 *   usage lost, never excused).
 */
import type { Db } from '../platform/db/index.js';
import type { AdminClient, Category } from './admin.js';
import {
  DELAYED,
  type DrillClient,
  F_MODE,
  F_PRODUCT,
  F_Q,
  F_RECV,
  F_SESSION,
  F_T,
  LOG_FIELDS,
  REALTIME,
  UNKNOWN,
} from './clients.js';
import type { LoopStalls } from './stalls.js';

export interface Violation {
  user: string;
  product: string;
  at: number;
  detail: string;
}

export interface ClientTruth {
  events: number;
  realtimeEvents: number;
  delayedEvents: number;
  unknownModeEvents: number;
  leaks: Violation[];
  /**
   * Real-time events read after the switch window, but during or just after a stall of the drill's
   * own event loop, that were within it at the earliest instant they could have arrived: not
   * provable leaks, listed in the notes.
   */
  readLateByTheDrill: Violation[];
  /**
   * Real-time events read after the switch window that the edge provably sent within it: on the
   * same socket they came before a live mode status whose `at` (the edge's clock as it sent the
   * status) was within it. The edge switched in time; the client read its backlog late. Listed in
   * the notes, not leaks.
   */
  sentInTime: Violation[];
  earlyDelayed: Violation[];
  /** `user product day` → real-time events received. */
  deliveries: Map<string, number>;
  /** `user product day` → first real-time receipt. */
  firstRealtime: Map<string, number>;
  /** Users with a session that the edge kill cut. */
  onKilledEdge: Set<string>;
  /**
   * `user product day` → real-time events the killed edge delivered in its last flush interval
   * before the kill (with the tolerance): the most of that key the ledger may miss.
   */
  unflushedOnKilledEdge: Map<string, number>;
  /**
   * `user product day` → real-time events the SIGTERMed edge delivered from its last flush
   * interval before the signal until it exited (with the tolerance): what a stop that failed to
   * flush would have lost. Nothing of it is excused.
   */
  lastIntervalOnTerminatedEdge: Map<string, number>;
  /** Vendor sequence numbers some client received in real time, with the earliest receipt. */
  reached: Map<number, number>;
}

export interface TruthOptions {
  delayMs: number;
  switchWindowMs: number;
  productIds: readonly string[];
  /**
   * Index of the edge the drill killed, when, and its `MDHUB_USAGE_FLUSH_MS`; undefined if it did
   * not.
   */
  killedEdge?: { index: number; at: number; flushMs: number };
  /** The edge the drill SIGTERMed, from the signal to its exit, and its `MDHUB_USAGE_FLUSH_MS`. */
  terminatedEdge?: { index: number; signalledAt: number; exitedAt: number; flushMs: number };
  /** The drill's own event-loop stalls: a frame read during one may have arrived when it began. */
  stalls?: LoopStalls;
}

/**
 * Slack on each side of the bounded-loss window: the edge's flush timer firing late on a loaded
 * event loop, the flushed event's hop through the spool, and events still in the client's socket
 * when the edge died.
 */
export const BOUNDED_LOSS_TOLERANCE_MS = 250;

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * The entitlement history as the hub recorded it: grant spans (`valid_from` until the earlier of
 * `valid_to` and `revoked_at`, the instants the verbs committed) and agreement acceptances. The
 * drill's own request times only bracket these; the hub's instants are what an auditor sees.
 */
export class EntitlementHistory {
  readonly #spans = new Map<string, Array<{ from: number; to: number }>>();
  readonly #agreements = new Map<string, number>();
  readonly #licensor: ReadonlyMap<string, string>;

  private constructor(licensor: ReadonlyMap<string, string>) {
    this.#licensor = licensor;
  }

  static async load(db: Db, licensorOf: ReadonlyMap<string, string>): Promise<EntitlementHistory> {
    const history = new EntitlementHistory(licensorOf);
    const grants = await db.query<{
      user_id: string;
      product: string;
      valid_from: number;
      end: number | null;
    }>(`select user_id, product, valid_from, least(valid_to, revoked_at) as end from grants`);
    for (const g of grants.rows) {
      const key = `${g.user_id} ${g.product}`;
      const to = g.end === null ? Number.POSITIVE_INFINITY : Number(g.end);
      history.#spans.set(key, [...(history.#spans.get(key) ?? []), { from: Number(g.valid_from), to }]);
    }
    const agreements = await db.query<{ user_id: string; licensor: string; at: number }>(
      'select user_id, licensor, min(accepted_at) as at from agreements group by user_id, licensor',
    );
    for (const a of agreements.rows) history.#agreements.set(`${a.user_id} ${a.licensor}`, Number(a.at));
    return history;
  }

  /** Whether `user` may receive `product` in real time at `at`, allowing `windowMs` after an end. */
  entitledAt(user: string, product: string, at: number, windowMs: number): boolean {
    const agreed = this.#agreements.get(`${user} ${this.#licensor.get(product)}`);
    if (agreed === undefined || agreed > at) return false;
    return (this.#spans.get(`${user} ${product}`) ?? []).some((g) => g.from <= at && at < g.to + windowMs);
  }

  /**
   * Whether `user` may receive `product` in real time at every instant of [from, to], allowing
   * `windowMs` after an end: one grant span covers it all, and the agreement was accepted by `from`.
   */
  entitledThroughout(user: string, product: string, from: number, to: number, windowMs: number): boolean {
    const agreed = this.#agreements.get(`${user} ${this.#licensor.get(product)}`);
    if (agreed === undefined || agreed > from) return false;
    return (this.#spans.get(`${user} ${product}`) ?? []).some((g) => g.from <= from && to < g.to + windowMs);
  }

  /** Whether `user` held a grant for `product` and its agreement at some instant in [from, to). */
  entitledDuring(user: string, product: string, from: number, to: number): boolean {
    const agreed = this.#agreements.get(`${user} ${this.#licensor.get(product)}`);
    if (agreed === undefined) return false;
    return (this.#spans.get(`${user} ${product}`) ?? []).some(
      (g) => Math.max(g.from, agreed, from) < Math.min(g.to, to),
    );
  }

  /** The first instant in [from, to) at which `user` held a grant for `product` and its agreement. */
  firstEntitled(user: string, product: string, from: number, to: number): number | undefined {
    const agreed = this.#agreements.get(`${user} ${this.#licensor.get(product)}`);
    if (agreed === undefined) return undefined;
    let first: number | undefined;
    for (const g of this.#spans.get(`${user} ${product}`) ?? []) {
      const start = Math.max(g.from, agreed, from);
      if (start < Math.min(g.to, to) && (first === undefined || start < first)) first = start;
    }
    return first;
  }

  describe(user: string, product: string): string {
    return JSON.stringify(this.#spans.get(`${user} ${product}`) ?? []);
  }
}

export function clientTruth(
  clients: readonly DrillClient[],
  history: EntitlementHistory,
  options: TruthOptions,
): ClientTruth {
  const truth: ClientTruth = {
    events: 0,
    realtimeEvents: 0,
    delayedEvents: 0,
    unknownModeEvents: 0,
    leaks: [],
    readLateByTheDrill: [],
    sentInTime: [],
    earlyDelayed: [],
    deliveries: new Map(),
    firstRealtime: new Map(),
    onKilledEdge: new Set(),
    unflushedOnKilledEdge: new Map(),
    lastIntervalOnTerminatedEdge: new Map(),
    reached: new Map(),
  };
  const stopped = options.terminatedEdge;
  const lastFrom = stopped ? stopped.signalledAt - stopped.flushMs - BOUNDED_LOSS_TOLERANCE_MS : 0;
  const lastTo = stopped ? stopped.exitedAt + BOUNDED_LOSS_TOLERANCE_MS : 0;
  const killed = options.killedEdge;
  const unflushedFrom = killed ? killed.at - killed.flushMs - BOUNDED_LOSS_TOLERANCE_MS : 0;
  const unflushedTo = killed ? killed.at + BOUNDED_LOSS_TOLERANCE_MS : 0;
  for (const client of clients) {
    const user = client.user;
    if (
      killed &&
      client.sessions.some(
        (s) => s.edge === killed.index && (s.closedAt ?? Number.POSITIVE_INFINITY) >= killed.at,
      )
    )
      truth.onKilledEdge.add(user);
    const log = client.log;
    for (let i = 0; i < log.length; i += LOG_FIELDS) {
      const recv = log[i + F_RECV] as number;
      const t = log[i + F_T] as number;
      const mode = log[i + F_MODE] as number;
      const product = options.productIds[log[i + F_PRODUCT] as number] ?? '?';
      truth.events++;
      if (mode === UNKNOWN) truth.unknownModeEvents++;
      const fresh = recv < t + options.delayMs;
      if (mode === DELAYED) {
        truth.delayedEvents++;
        if (fresh)
          truth.earlyDelayed.push({
            user,
            product,
            at: recv,
            detail: `q=${log[i + F_Q]} t=${t} received ${recv - t} ms after t, delay ${options.delayMs} ms`,
          });
      }
      if ((mode === REALTIME || fresh) && !history.entitledAt(user, product, recv, options.switchWindowMs)) {
        const session = log[i + F_SESSION] as number;
        // Sent no later than the edge's stamp on the next live mode status the socket carried.
        const sentBy = client.sentBy(i / LOG_FIELDS);
        const sentInTime =
          sentBy !== undefined &&
          sentBy < recv &&
          history.entitledThroughout(user, product, t, sentBy, options.switchWindowMs);
        const arrived = options.stalls?.earliestArrival(recv, t) ?? recv;
        const excused = arrived < recv && history.entitledAt(user, product, arrived, options.switchWindowMs);
        (sentInTime ? truth.sentInTime : excused ? truth.readLateByTheDrill : truth.leaks).push({
          user,
          product,
          at: recv,
          detail: `q=${log[i + F_Q]} in mode ${mode === REALTIME ? 'realtime' : 'delayed'} ${recv - t} ms after t, session ${session} on edge ${client.sessions[session]?.edge ?? '?'}${sentBy !== undefined ? `, before the edge's mode status sent at ${new Date(sentBy).toISOString()} (read ${recv - sentBy} ms later)` : ''}${arrived < recv ? `, read ${recv - arrived} ms after the drill's loop stalled` : ''}; grants ${history.describe(user, product)}`,
        });
      }
      if (mode !== REALTIME) continue;
      truth.realtimeEvents++;
      const key = `${user} ${product} ${day(recv)}`;
      truth.deliveries.set(key, (truth.deliveries.get(key) ?? 0) + 1);
      if (
        killed &&
        recv >= unflushedFrom &&
        recv <= unflushedTo &&
        client.sessions[log[i + F_SESSION] as number]?.edge === killed.index
      )
        truth.unflushedOnKilledEdge.set(key, (truth.unflushedOnKilledEdge.get(key) ?? 0) + 1);
      if (
        stopped &&
        recv >= lastFrom &&
        recv <= lastTo &&
        client.sessions[log[i + F_SESSION] as number]?.edge === stopped.index
      )
        truth.lastIntervalOnTerminatedEdge.set(key, (truth.lastIntervalOnTerminatedEdge.get(key) ?? 0) + 1);
      if (!((truth.firstRealtime.get(key) ?? Number.POSITIVE_INFINITY) <= recv))
        truth.firstRealtime.set(key, recv);
      const q = log[i + F_Q] as number;
      if (!((truth.reached.get(q) ?? Number.POSITIVE_INFINITY) <= recv)) truth.reached.set(q, recv);
    }
  }
  return truth;
}

export interface LedgerComparison {
  keys: number;
  clientDeliveries: number;
  ledgerDeliveries: number;
  /** Ledger above clients, summed over (user, product, day). */
  doubleCounted: number;
  /**
   * Clients above ledger within the killed edge's last flush interval: the documented bounded
   * loss, not a failure.
   */
  boundedLoss: number;
  /**
   * Clients above ledger that the SIGTERMed edge's last interval explains: counts its clean stop
   * failed to flush. Never excused (a SIGTERM has no bounded loss).
   */
  lostAtTermination: number;
  /** Clients above ledger beyond that bound, for users with a session on the killed edge. */
  lostOnKilledEdge: number;
  /** Clients above ledger for anyone else: unexplained loss. */
  lostElsewhere: number;
  missingFirstAccess: string[];
  phantomFirstAccess: string[];
  lateFirstAccess: string[];
  /** Keys the ledger counts above the clients, as examples. */
  doubleSamples: string[];
  /** Keys the ledger counts below the clients beyond the bound, as examples. */
  lostSamples: string[];
}

export async function compareLedger(
  db: Db,
  truth: ClientTruth,
  users: ReadonlySet<string>,
): Promise<LedgerComparison> {
  const { rows } = await db.query<{
    user_id: string;
    product: string;
    day: string;
    deliveries: number;
    first: number | null;
  }>(
    `select user_id, product, day, sum(deliveries)::int8 as deliveries, min(first_realtime_at) as first
       from usage_daily group by user_id, product, day`,
  );
  const ledger = new Map(
    rows.filter((r) => users.has(r.user_id)).map((r) => [`${r.user_id} ${r.product} ${r.day}`, r]),
  );
  const out: LedgerComparison = {
    keys: 0,
    clientDeliveries: 0,
    ledgerDeliveries: 0,
    doubleCounted: 0,
    boundedLoss: 0,
    lostAtTermination: 0,
    lostOnKilledEdge: 0,
    lostElsewhere: 0,
    missingFirstAccess: [],
    phantomFirstAccess: [],
    lateFirstAccess: [],
    doubleSamples: [],
    lostSamples: [],
  };
  for (const key of new Set([...ledger.keys(), ...truth.deliveries.keys()])) {
    out.keys++;
    const client = truth.deliveries.get(key) ?? 0;
    const row = ledger.get(key);
    const counted = Number(row?.deliveries ?? 0);
    out.clientDeliveries += client;
    out.ledgerDeliveries += counted;
    if (counted > client) out.doubleCounted += counted - client;
    if (counted < client) {
      const excused = Math.min(client - counted, truth.unflushedOnKilledEdge.get(key) ?? 0);
      out.boundedLoss += excused;
      const atTermination = Math.min(
        client - counted - excused,
        truth.lastIntervalOnTerminatedEdge.get(key) ?? 0,
      );
      out.lostAtTermination += atTermination;
      const lost = client - counted - excused - atTermination;
      if (truth.onKilledEdge.has(key.split(' ')[0] as string)) out.lostOnKilledEdge += lost;
      else out.lostElsewhere += lost;
    }
    // Samples explain failures: a shortfall the bound excuses entirely is not one.
    const sample = `${key}: clients ${client}, ledger ${counted}`;
    if (counted > client && out.doubleSamples.length < 10) out.doubleSamples.push(sample);
    if (client - counted > (truth.unflushedOnKilledEdge.get(key) ?? 0) && out.lostSamples.length < 10)
      out.lostSamples.push(sample);
    const first = row?.first ?? null;
    const clientFirst = truth.firstRealtime.get(key);
    if (clientFirst !== undefined && first === null) out.missingFirstAccess.push(key);
    if (clientFirst === undefined && first !== null) out.phantomFirstAccess.push(key);
    if (clientFirst !== undefined && first !== null && Number(first) > clientFirst)
      out.lateFirstAccess.push(`${key}: ledger ${first}, first receipt ${clientFirst}`);
  }
  return out;
}

export interface ReportDetail {
  product: string;
  category: Category;
  user: string;
  entitled: boolean;
  accessed: boolean;
}

export interface ReportRow {
  product: string;
  category: Category;
  subscribers: number;
}

export interface ReportComparison {
  rowsMatch: boolean;
  detailMismatches: string[];
  expectedRows: ReportRow[];
  reportedRows: ReportRow[];
}

/**
 * The monthly report against the drill's own knowledge: who was entitled (a grant and the
 * agreement at some instant), who accessed (real-time events received), and their category.
 * Only the drill's users are compared; the rows are recounted from the expected details.
 */
export function compareReport(
  report: { rows: ReportRow[]; details?: ReportDetail[] },
  truth: ClientTruth,
  admin: AdminClient,
  history: EntitlementHistory,
  users: ReadonlySet<string>,
  productIds: readonly string[],
  month: { start: number; end: number },
): ReportComparison {
  // The first real-time delivery per (user, product), over the month's days.
  const accessed = new Map<string, number>();
  for (const [key, at] of truth.firstRealtime) {
    const [user, product] = key.split(' ');
    const pair = `${user} ${product}`;
    if (at >= month.start && at < month.end && !((accessed.get(pair) ?? Number.POSITIVE_INFINITY) <= at))
      accessed.set(pair, at);
  }
  const expected = new Map<string, ReportDetail>();
  for (const user of users) {
    for (const product of productIds) {
      const entitled = history.entitledDuring(user, product, month.start, month.end);
      const didAccess = accessed.has(`${user} ${product}`);
      if (!entitled && !didAccess) continue;
      const counted = Math.min(
        history.firstEntitled(user, product, month.start, month.end) ?? Number.POSITIVE_INFINITY,
        accessed.get(`${user} ${product}`) ?? Number.POSITIVE_INFINITY,
      );
      const category = admin.categoryWhenCounted(user, counted);
      expected.set(`${user} ${product}`, { product, category, user, entitled, accessed: didAccess });
    }
  }
  const mismatches: string[] = [];
  const seen = new Set<string>();
  for (const d of report.details ?? []) {
    if (!users.has(d.user)) continue;
    const key = `${d.user} ${d.product}`;
    seen.add(key);
    const e = expected.get(key);
    if (e === undefined)
      mismatches.push(
        `${key}: reported (${d.category}, entitled ${d.entitled}, accessed ${d.accessed}) but not expected`,
      );
    else if (e.category !== d.category || e.entitled !== d.entitled || e.accessed !== d.accessed)
      mismatches.push(
        `${key}: reported ${d.category}/entitled ${d.entitled}/accessed ${d.accessed}, expected ${e.category}/entitled ${e.entitled}/accessed ${e.accessed}`,
      );
  }
  for (const key of expected.keys()) if (!seen.has(key)) mismatches.push(`${key}: expected but not reported`);
  const count = new Map<string, number>();
  for (const e of expected.values())
    count.set(`${e.product} ${e.category}`, (count.get(`${e.product} ${e.category}`) ?? 0) + 1);
  const expectedRows = [...count].map(([key, subscribers]) => {
    const [product, category] = key.split(' ') as [string, Category];
    return { product, category, subscribers };
  });
  const reportedRows = report.rows
    .filter((r) => r.subscribers > 0)
    .map((r) => ({ product: r.product, category: r.category, subscribers: r.subscribers }));
  const norm = (rows: ReportRow[]) =>
    JSON.stringify(
      [...rows].sort((a, b) => `${a.product}${a.category}`.localeCompare(`${b.product}${b.category}`)),
    );
  return {
    rowsMatch: norm(expectedRows) === norm(reportedRows),
    detailMismatches: mismatches,
    expectedRows,
    reportedRows,
  };
}

/** Of the vendor events sent in [from, to), how many, and how many no client received in real time. */
export function ticksIn(
  sentAt: ArrayLike<number>,
  truth: Pick<ClientTruth, 'reached'>,
  from: number,
  to: number,
): { sent: number; missed: number } {
  let sent = 0;
  let missed = 0;
  for (let q = 1; q <= sentAt.length; q++) {
    const t = sentAt[q - 1] as number;
    if (t < from || t >= to) continue;
    sent++;
    if (!truth.reached.has(q)) missed++;
  }
  return { sent, missed };
}
