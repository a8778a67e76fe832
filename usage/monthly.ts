/**
 * The ledger per (user, product, month) and use: the user's category, whether real time was open
 * to them at some instant, and what their devices did — read from the daily ledger, with the
 * category and the entitlement asked of entitlements (`categoriesForMonth`,
 * `realtimeOpenIntervals`, `tokenUsagesDuring`). A person's display use and their applications'
 * non-display use are two entries, the second under the category `non_display`. Their history is
 * append-only, so the answer for a past month never changes unless a late usage event or a
 * correction with an effect date in it arrives.
 *
 * The category is judged at the instants the user counted for the product (DESIGN rule 3):
 * - on the `accessed` basis, while they received real time. The ledger keeps, per (user, device,
 *   product, day), the first and last real-time access of the day; they received it at both and
 *   possibly anywhere between, so each such day contributes `[first, last]` (when in doubt,
 *   count: professional at any instant of it makes them professional);
 * - on the `entitled` basis, while real time was open to them (`realtimeOpenIntervals`) and also
 *   while they received it, since the ledger outranks the grant history there too.
 * Who counted at no instant (only delayed data or delayed snapshots, or entitled to an `accessed`
 * product they never received) is not a subscriber; their category is the month's
 * (`categoryForMonth`: professional at any instant of it). An application's use is `non_display`,
 * whatever the person's category.
 */
import type { Catalog, ReportCategory } from '../config/index.js';
import {
  categoriesForMonth,
  type Interval,
  realtimeOpenIntervals,
  tokenUsagesDuring,
} from '../entitlements/index.js';
import type { Queryable } from '../platform/db/index.js';
import { USAGE_KINDS, type UsageKind } from './event.js';
import type { UsageMonth } from './month.js';

/** What one device did with one product over the month. */
export interface DeviceUsage {
  deviceId: string;
  /** First and last real-time access (delivery or real-time snapshot), epoch ms; null when none. */
  firstRealtimeAt: number | null;
  lastRealtimeAt: number | null;
  /**
   * Each day with real-time access as `[first, last]` of that day, written half-open
   * (`to` = last + 1), in day order.
   */
  realtimeSpans: Interval[];
  deliveries: number;
  queries: number;
  realtimeQueries: number;
}

export interface MonthlyUsage {
  userId: string;
  product: string;
  /** The user's category for their display use; `non_display` for their applications' use. */
  category: ReportCategory;
  /**
   * Real time for the product was open to the user at some instant of the month (entitlements'
   * history), for this use: for display, unless every token the user held during the month was
   * issued for an application; for non-display, if one of them was.
   */
  entitled: boolean;
  /** Received real-time data (a delivery or a real-time snapshot) at least once. */
  accessed: boolean;
  /** Every device with any ledger activity of this use for the product in the month, by device id. */
  devices: DeviceUsage[];
  /** When real time for the product was open to the user during the month, whatever the use; empty when never. */
  open: readonly Interval[];
}

/** Code-point order, the same on every machine and locale (`localeCompare` is not). */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The earliest first real-time access over `devices`; null when none had real time. */
export function firstRealtime(devices: readonly DeviceUsage[]): number | null {
  let at: number | null = null;
  for (const d of devices)
    if (d.firstRealtimeAt !== null && (at === null || d.firstRealtimeAt < at)) at = d.firstRealtimeAt;
  return at;
}

/** The latest last real-time access over `devices`; null when none had real time. */
export function lastRealtime(devices: readonly DeviceUsage[]): number | null {
  let at: number | null = null;
  for (const d of devices)
    if (d.lastRealtimeAt !== null && (at === null || d.lastRealtimeAt > at)) at = d.lastRealtimeAt;
  return at;
}

interface DailyRow {
  product: string;
  user_id: string;
  device_id: string;
  usage: UsageKind;
  first: number | null;
  last: number | null;
  span_firsts: number[];
  span_lasts: number[];
  deliveries: number;
  queries: number;
  realtime_queries: number;
}

async function dailyUsage(q: Queryable, catalog: Catalog, month: UsageMonth): Promise<DailyRow[]> {
  const { rows } = await q.query<DailyRow>(
    `select product, user_id, device_id, usage, min(first_realtime_at) as first, max(last_realtime_at) as last,
        coalesce(array_agg(first_realtime_at order by day) filter (where first_realtime_at is not null), '{}') as span_firsts,
        coalesce(array_agg(coalesce(last_realtime_at, first_realtime_at) order by day)
          filter (where first_realtime_at is not null), '{}') as span_lasts,
        sum(deliveries)::int8 as deliveries, sum(queries)::int8 as queries,
        sum(realtime_queries)::int8 as realtime_queries
      from usage_daily
     where day >= $1 and day < $2 and product = any($3::text[])
     group by product, user_id, device_id, usage`,
    [month.firstDay, month.nextFirstDay, [...catalog.products.keys()]],
  );
  return rows;
}

function pairKey(userId: string, product: string): string {
  return `${userId}\u0000${product}`;
}

/**
 * When the user counted for the product, per its basis (see the header). Real time open counts
 * only for a use it was open to: not for display when all the user's tokens were an application's.
 */
function countedIntervals(catalog: Catalog, usage: MonthlyUsage): Interval[] {
  const received = usage.devices.flatMap((device) => device.realtimeSpans);
  return catalog.products.get(usage.product)?.basis === 'accessed' || !usage.entitled
    ? received
    : [...usage.open, ...received];
}

/**
 * Every (user, product, use) of the catalog with real time open for that use at some instant of
 * the month or any usage of it, sorted by product, then user, then category; devices sorted by id.
 * A user with usage but no user row (which the entitlements never allow) counts as professional.
 */
export async function readMonthlyUsage(
  q: Queryable,
  catalog: Catalog,
  month: UsageMonth,
): Promise<MonthlyUsage[]> {
  const window = { from: month.start, to: month.end };
  const open = await realtimeOpenIntervals(q, catalog, window);
  const openIntervals = new Map(
    open.map((history) => [pairKey(history.userId, history.product), history.intervals]),
  );
  const tokens = await tokenUsagesDuring(q, [...new Set(open.map((history) => history.userId))], window);
  const daily = await dailyUsage(q, catalog, month);

  // A user holding no token at all during the month counts as display: when in doubt, count.
  const entitledFor = (userId: string, product: string, kind: UsageKind): boolean => {
    if (!openIntervals.has(pairKey(userId, product))) return false;
    const held = tokens.get(userId);
    return kind === 'non_display' ? held?.has('non_display') === true : !held || held.has('display');
  };
  const pairs = new Map<string, MonthlyUsage>();
  const pair = (userId: string, product: string, kind: UsageKind): MonthlyUsage => {
    const key = `${pairKey(userId, product)}\u0000${kind}`;
    let usage = pairs.get(key);
    if (!usage) {
      usage = {
        userId,
        product,
        category: kind === 'non_display' ? 'non_display' : 'professional',
        entitled: entitledFor(userId, product, kind),
        accessed: false,
        devices: [],
        open: openIntervals.get(pairKey(userId, product)) ?? [],
      };
      pairs.set(key, usage);
    }
    return usage;
  };
  for (const history of open)
    for (const kind of USAGE_KINDS)
      if (entitledFor(history.userId, history.product, kind)) pair(history.userId, history.product, kind);
  for (const row of daily) {
    const usage = pair(row.user_id, row.product, row.usage);
    if (row.first !== null) usage.accessed = true;
    usage.devices.push({
      deviceId: row.device_id,
      firstRealtimeAt: row.first,
      lastRealtimeAt: row.last,
      realtimeSpans: row.span_firsts.map((first, day) => ({ from: first, to: row.span_lasts[day]! + 1 })),
      deliveries: row.deliveries,
      queries: row.queries,
      realtimeQueries: row.realtime_queries,
    });
  }

  const result = [...pairs.values()];
  const display = result.filter((usage) => usage.category !== 'non_display');
  const categories = await categoriesForMonth(
    q,
    month.month,
    display.map((usage) => ({ userId: usage.userId, intervals: countedIntervals(catalog, usage) })),
  );
  for (const [index, usage] of display.entries()) usage.category = categories[index]!;
  for (const usage of result) usage.devices.sort((a, b) => compareText(a.deviceId, b.deviceId));
  return result.sort(
    (a, b) =>
      compareText(a.product, b.product) ||
      compareText(a.userId, b.userId) ||
      compareText(a.category, b.category),
  );
}
