/**
 * Writing usage events into the ledger (migrations/0004_ledger.sql), idempotently: an event's id
 * goes into `usage_events_seen` in the same transaction as what it adds to the ledger, so a
 * redelivered, replayed or duplicated event adds nothing the second time, whichever meter sees it.
 * An event for a month already filed is counted all the same, and marked late (late.ts).
 */

import type { Tx } from '../platform/db/index.js';
import type { UsageEvent, UsageKind } from './event.js';
import { type CountedUsage, filingLockOf, latestFilingsSql, recordLate, usageMonths } from './late.js';

export interface LedgerWrite {
  /** Events counted by this call. */
  counted: UsageEvent[];
  /** Events already counted before (or twice in this batch), ignored. */
  duplicates: number;
  /** Counted events whose month already had a filing (recorded in `usage_late`). */
  late: number;
}

export interface LedgerWriteOptions {
  /** When the ledger receives the events, epoch ms, as `usage_late` records it (default now). */
  receivedAt?: number;
}

/** What one event adds to a (product, day, user, device, usage) row. */
interface DailyDelta {
  product: string;
  day: string;
  userId: string;
  deviceId: string;
  usage: UsageKind;
  first: number | null;
  last: number | null;
  deliveries: number;
  queries: number;
  realtimeQueries: number;
}

interface SessionTouch {
  edge: string;
  session: string;
  delta: DailyDelta;
}

type Counted = Exclude<UsageEvent, { kind: 'session_open' | 'session_close' }>;

const SEP = '\u0000';

/** A batch's statements, parsed and planned once per connection: the same three for every batch. */
const PREPARED = { prepare: true } as const;

/** `close_reason` of a session the sweeper closed because its edge stopped renewing its slot. */
export const EDGE_LOST = 'edge_lost';

/** The ledger's device id: '' for a token bound to no device (a key column cannot be null). */
export function deviceKey(device: string | null): string {
  return device ?? '';
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Values sorted by key, one fixed order in every meter: rows are locked in it, so two meters
 * writing overlapping keys wait for each other instead of deadlocking.
 */
function sortedValues<T>(map: ReadonlyMap<string, T>): T[] {
  return [...map.entries()].sort(([a], [b]) => compareKeys(a, b)).map(([, value]) => value);
}

function addToDaily(deltas: Map<string, DailyDelta>, event: Counted): DailyDelta {
  const deviceId = deviceKey(event.device);
  const usage = event.usage ?? 'display';
  const key = [event.product, event.day, event.user, deviceId, usage].join(SEP);
  let delta = deltas.get(key);
  if (!delta) {
    delta = {
      product: event.product,
      day: event.day,
      userId: event.user,
      deviceId,
      usage,
      first: null,
      last: null,
      deliveries: 0,
      queries: 0,
      realtimeQueries: 0,
    };
    deltas.set(key, delta);
  }
  const realtime = (first: number, last: number) => {
    delta.first = delta.first === null ? first : Math.min(delta.first, first);
    delta.last = delta.last === null ? last : Math.max(delta.last, last);
  };
  switch (event.kind) {
    case 'first_access':
      realtime(event.at, event.at);
      break;
    case 'deliveries':
      delta.deliveries += event.count;
      realtime(event.firstAt, event.lastAt);
      break;
    case 'query':
      delta.queries++;
      // A real-time snapshot is real-time data received, as much as a streamed delivery.
      if (event.mode === 'realtime') {
        delta.realtimeQueries++;
        realtime(event.at, event.at);
      }
      break;
  }
  return delta;
}

/** A `usage_sessions` row as one batch changes it. */
interface SessionRow {
  edge: string;
  session: string;
  user: string;
  device: string;
  openedAt: number;
  closedAt: number | null;
  reason: string | null;
  lastSeenAt: number | null;
}

/** Folds the batch's events into one row per session: session events, and the life the others show. */
function sessionRows(events: readonly UsageEvent[]): SessionRow[] {
  const sessions = new Map<string, SessionRow>();
  for (const e of events) {
    if (e.kind === 'query') continue;
    const key = [e.edge, e.session].join(SEP);
    const seen = sessions.get(key);
    // A delivery flush or first access can be committed before its session_open (two meters, or a
    // claimed batch): the row is created from it, and the real opening time lowers opened_at later.
    const openedAt =
      e.kind === 'session_open'
        ? e.at
        : e.kind === 'session_close'
          ? e.openedAt
          : e.kind === 'deliveries'
            ? e.firstAt
            : e.at;
    const lastSeenAt = e.kind === 'deliveries' ? e.lastAt : e.kind === 'first_access' ? e.at : null;
    const closedAt = e.kind === 'session_close' ? e.at : null;
    const reason = e.kind === 'session_close' ? e.reason : null;
    sessions.set(key, {
      edge: e.edge,
      session: e.session,
      user: e.user,
      device: deviceKey(e.device),
      openedAt: seen ? Math.min(seen.openedAt, openedAt) : openedAt,
      closedAt: closedAt ?? seen?.closedAt ?? null,
      reason: reason ?? seen?.reason ?? null,
      lastSeenAt:
        lastSeenAt === null
          ? (seen?.lastSeenAt ?? null)
          : Math.max(lastSeenAt, seen?.lastSeenAt ?? lastSeenAt),
    });
  }
  return sortedValues(sessions);
}

/**
 * Upserts the session log. A session_close always sets the close, even over a sweep's `edge_lost`
 * (the edge came back and knows better). Life seen after a sweep's closing instant means the sweep
 * was premature (a partitioned edge, a lagging stream): the session is open again, and the next
 * sweep closes it at its new last instant if its slot is still gone.
 *
 * The same statement reads the latest filing of each of `months` (late.ts): one round trip, not
 * two. It comes after the statement that took their filing locks, so it sees a filing that
 * committed while the batch waited for a lock.
 */
async function writeSessions(
  tx: Tx,
  rows: readonly SessionRow[],
  months: readonly string[],
): Promise<Map<string, number>> {
  if (rows.length === 0 && months.length === 0) return new Map();
  const revived = `usage_sessions.close_reason = '${EDGE_LOST}' and excluded.last_seen_at > usage_sessions.closed_at`;
  const filings = await tx.query<{ month: string; id: number }>(
    `with sessions as (
        insert into usage_sessions (edge_id, session_id, user_id, device_id, opened_at, closed_at, close_reason,
            last_seen_at)
          select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[],
            $8::int8[])
          on conflict (edge_id, session_id) do update set
            opened_at = least(usage_sessions.opened_at, excluded.opened_at),
            last_seen_at = greatest(usage_sessions.last_seen_at, excluded.last_seen_at),
            closed_at = case when excluded.closed_at is not null then excluded.closed_at
              when ${revived} then null else usage_sessions.closed_at end,
            close_reason = case when excluded.closed_at is not null then excluded.close_reason
              when ${revived} then null else usage_sessions.close_reason end)
    ${latestFilingsSql('$9')}`,
    [
      rows.map((r) => r.edge),
      rows.map((r) => r.session),
      rows.map((r) => r.user),
      rows.map((r) => r.device),
      rows.map((r) => r.openedAt),
      rows.map((r) => r.closedAt),
      rows.map((r) => r.reason),
      rows.map((r) => r.lastSeenAt),
      months,
    ],
    PREPARED,
  );
  return new Map(filings.rows.map((row) => [row.month, row.id]));
}

/**
 * Adds the batch to the daily rows, in one statement with the sessions it counts: each session
 * counts once per (product, day) it received real time on, across batches and meters
 * (`usage_session_days` remembers which it has counted), and adds one to the row of the usage it
 * was seen with. One round trip, not two: the meter's throughput is the database's.
 */
async function writeDaily(
  tx: Tx,
  deltas: ReadonlyMap<string, DailyDelta>,
  touches: ReadonlyMap<string, SessionTouch>,
): Promise<void> {
  const rows = sortedValues(deltas);
  if (rows.length === 0) return;
  const sessions = sortedValues(touches);
  await tx.query(
    `with touched as (
        insert into usage_session_days (edge_id, session_id, user_id, device_id, product, day)
        select edge_id, session_id, user_id, device_id, product, day
          from unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[])
            as t(edge_id, session_id, user_id, device_id, product, day)
        on conflict do nothing returning edge_id, session_id, user_id, device_id, product, day),
      counted as (
        select product, day, user_id, device_id, t.usage, count(*) as sessions
          from touched
          join unnest($11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
            as t(edge_id, session_id, user_id, device_id, product, day, usage)
            using (edge_id, session_id, user_id, device_id, product, day)
         group by product, day, user_id, device_id, t.usage)
    insert into usage_daily (product, day, user_id, device_id, usage, first_realtime_at, last_realtime_at,
        deliveries, queries, realtime_queries, sessions)
      select d.product, d.day, d.user_id, d.device_id, d.usage, d.first_at, d.last_at, d.deliveries, d.queries,
          d.realtime_queries, coalesce(c.sessions, 0)
        from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
            $8::int8[], $9::int8[], $10::int8[]) with ordinality
          as d(product, day, user_id, device_id, usage, first_at, last_at, deliveries, queries, realtime_queries, n)
        left join counted c using (product, day, user_id, device_id, usage)
       order by d.n
      on conflict (product, day, user_id, device_id, usage) do update set
        first_realtime_at = least(usage_daily.first_realtime_at, excluded.first_realtime_at),
        last_realtime_at = greatest(usage_daily.last_realtime_at, excluded.last_realtime_at),
        deliveries = usage_daily.deliveries + excluded.deliveries,
        queries = usage_daily.queries + excluded.queries,
        realtime_queries = usage_daily.realtime_queries + excluded.realtime_queries,
        sessions = usage_daily.sessions + excluded.sessions`,
    [
      rows.map((r) => r.product),
      rows.map((r) => r.day),
      rows.map((r) => r.userId),
      rows.map((r) => r.deviceId),
      rows.map((r) => r.usage),
      rows.map((r) => r.first),
      rows.map((r) => r.last),
      rows.map((r) => r.deliveries),
      rows.map((r) => r.queries),
      rows.map((r) => r.realtimeQueries),
      sessions.map((t) => t.edge),
      sessions.map((t) => t.session),
      sessions.map((t) => t.delta.userId),
      sessions.map((t) => t.delta.deviceId),
      sessions.map((t) => t.delta.product),
      sessions.map((t) => t.delta.day),
      sessions.map((t) => t.delta.usage),
    ],
    PREPARED,
  );
}

/**
 * Inserts the batch's ids into `usage_events_seen` and returns those already there (counted by an
 * earlier batch or a concurrent meter): one row back, not one per event, and the duplicates looked
 * for only when fewer ids went in than were sent (the usual batch has none). The same statement then
 * takes the shared filing locks of `months` (late.ts), in their sorted order and only once every
 * id is inserted: ids, then filing locks, then ledger rows, the one order every meter locks in.
 */
async function claimIds(
  tx: Tx,
  events: readonly UsageEvent[],
  months: readonly string[],
): Promise<Set<string>> {
  const { rows } = await tx.query<{ duplicates: string[] }>(
    `with inserted as (
        insert into usage_events_seen (id, at) select * from unnest($1::text[], $2::int8[])
        on conflict (id) do nothing returning id),
      claimed as (select count(*) as n from inserted),
      locked as (
        select count(pg_advisory_xact_lock_shared(${filingLockOf('month')})) as months
          from claimed, unnest($3::text[]) as month)
    select (select months from locked) as months,
        case when (select n from claimed) = cardinality($1::text[]) then '{}'::text[]
          else array(select id from unnest($1::text[]) as id where id not in (select id from inserted)) end
          as duplicates`,
    [events.map((e) => e.id), events.map((e) => e.at), months],
    PREPARED,
  );
  return new Set(rows[0]!.duplicates);
}

/**
 * Counts `events` in the ledger inside `tx`. The caller commits, and only then acknowledges the
 * events on the bus: a crash before the commit leaves them to be redelivered, one after it leaves
 * them to be recognised as seen.
 */
export async function writeLedger(
  tx: Tx,
  events: readonly UsageEvent[],
  options: LedgerWriteOptions = {},
): Promise<LedgerWrite> {
  const byId = new Map<string, UsageEvent>();
  for (const event of events) if (!byId.has(event.id)) byId.set(event.id, event);
  const unique = sortedValues(byId);
  if (unique.length === 0) return { counted: [], duplicates: events.length, late: 0 };

  // The months of every usage event in the batch, counted before or not: a superset of those the
  // counted events need locked, known before the ids are inserted.
  const seen = await claimIds(
    tx,
    unique,
    usageMonths(unique.filter((e) => e.kind !== 'session_open' && e.kind !== 'session_close')),
  );
  const counted = seen.size === 0 ? unique : unique.filter((e) => !seen.has(e.id));

  const deltas = new Map<string, DailyDelta>();
  const touches = new Map<string, SessionTouch>();
  const usage: CountedUsage[] = [];
  for (const event of counted) {
    if (event.kind === 'session_open' || event.kind === 'session_close') continue;
    const { id, kind, product, user, day, at } = event;
    usage.push({ id, kind, product, user, deviceId: deviceKey(event.device), day, at });
    const delta = addToDaily(deltas, event);
    if (event.kind !== 'query') {
      const key = [event.edge, event.session, delta.product, delta.day, delta.userId, delta.deviceId].join(
        SEP,
      );
      touches.set(key, { edge: event.edge, session: event.session, delta });
    }
  }
  const filed = await writeSessions(tx, sessionRows(counted), usageMonths(usage));
  const late = await recordLate(tx, usage, filed, options.receivedAt ?? Date.now());
  await writeDaily(tx, deltas, touches);
  return { counted, duplicates: events.length - counted.length, late };
}
