/**
 * Late usage: an event the ledger counts after its month was filed (a meter catching up, an
 * edge's spool drained after an outage). It is counted like any other — never dropped — and also
 * recorded in `usage_late` with the month's latest filing at that commit, so the drift of a filed
 * month can be explained event by event (usage/drift.ts).
 *
 * "Filed at the time of commit" is exact, not a race: the ledger holds a shared lock on each
 * month it writes, a filing holds the same lock exclusively while it reads the month and commits.
 * An event therefore either committed before the filing read the ledger (and is in its bytes), or
 * waited for the filing to commit and then sees it here (and is marked late for it).
 */
import type { Tx } from '../platform/db/index.js';

/** The advisory lock key of the month's filings in the SQL expression `month`: shared by the ledger, exclusive for a filing. */
export function filingLockOf(month: string): string {
  return `hashtext('mdhub.filing'), hashtext(${month})`;
}

/** The filing lock of the month in `$1`. */
export const FILING_LOCK = filingLockOf('$1');

/** A counted event that changes what a report counts (session events only feed the session log). */
export interface CountedUsage {
  id: string;
  kind: 'first_access' | 'deliveries' | 'query';
  product: string;
  user: string;
  /** The ledger's device id ('' for none). */
  deviceId: string;
  day: string;
  at: number;
}

/**
 * The months `events` count on, sorted: the ledger takes their filing locks (shared) in this
 * order, so two meters with a batch spanning months take them in the same order.
 */
export function usageMonths(events: readonly { day: string }[]): string[] {
  return [...new Set(events.map((e) => e.day.slice(0, 7)))].sort();
}

/**
 * The latest filing of each month in the text[] parameter `$param`, as (month, id) rows. Read in a
 * statement after the one that took the months' filing locks, so its snapshot sees a filing that
 * committed while the ledger waited for the lock.
 */
export function latestFilingsSql(param: string): string {
  return `select month, max(id) as id from report_filings where month = any(${param}::text[]) group by month`;
}

/**
 * Records which of `events` (counted by this transaction for the first time) fall in a month that
 * `filed` (month to latest filing id, from latestFilingsSql) says has a filing.
 */
export async function recordLate(
  tx: Tx,
  events: readonly CountedUsage[],
  filed: ReadonlyMap<string, number>,
  receivedAt: number,
): Promise<number> {
  if (filed.size === 0) return 0;
  const late = events.filter((e) => filed.has(e.day.slice(0, 7)));
  if (late.length === 0) return 0;
  await tx.query(
    `insert into usage_late (event_id, month, filing_id, kind, product, user_id, device_id, day, at, received_at)
      select *, $10::int8 from unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::text[], $9::int8[])
      on conflict (event_id) do nothing`,
    [
      late.map((e) => e.id),
      late.map((e) => e.day.slice(0, 7)),
      late.map((e) => filed.get(e.day.slice(0, 7))!),
      late.map((e) => e.kind),
      late.map((e) => e.product),
      late.map((e) => e.user),
      late.map((e) => e.deviceId),
      late.map((e) => e.day),
      late.map((e) => e.at),
      receivedAt,
    ],
  );
  return late.length;
}
