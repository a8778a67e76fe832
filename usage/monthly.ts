/**
 * The ledger per (user, product, month): the user's category, whether real time was open to them
 * at some instant, and what their devices did — read from the daily ledger and from entitlement
 * history. History is append-only (grants are ended, never rewritten; attestations and agreements
 * are only added), so the answer for a past month never changes unless a late usage event for it
 * arrives.
 */
import type { Catalog, Category } from '../config/index.js';
import { type AttestationFact, categoryForMonth } from '../entitlements/index.js';
import type { Queryable } from '../platform/db/index.js';
import type { UsageMonth } from './month.js';

/** What one device did with one product over the month. */
export interface DeviceUsage {
  deviceId: string;
  /** First and last real-time access (delivery or real-time snapshot), epoch ms; null when none. */
  firstRealtimeAt: number | null;
  lastRealtimeAt: number | null;
  deliveries: number;
  queries: number;
  realtimeQueries: number;
}

export interface MonthlyUsage {
  userId: string;
  product: string;
  category: Category;
  /** Held a real-time grant for the product while the licensor's agreement was on file, at some instant. */
  entitled: boolean;
  /** Received real-time data (a delivery or a real-time snapshot) at least once. */
  accessed: boolean;
  /** Every device with any ledger activity for the product in the month, by device id. */
  devices: DeviceUsage[];
}

/** The largest int8: the end of an open-ended grant. */
const FOREVER = '9223372036854775807';

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
  first: number | null;
  last: number | null;
  deliveries: number;
  queries: number;
  realtime_queries: number;
}

/**
 * (user, product) pairs where a real-time grant and an accepted agreement of the product's
 * licensor overlapped somewhere in the month. Any agreement version counts: which version the
 * catalog required back then is not part of the history, and counting is the safe side.
 * Suspension and billing delinquency are not subtracted either: entitlements keeps no history
 * of them, so a granted user counts for the whole grant (never under-report).
 */
async function entitledPairs(q: Queryable, catalog: Catalog, month: UsageMonth): Promise<Set<string>> {
  const products = [...catalog.products.values()];
  const { rows } = await q.query<{ user_id: string; product: string }>(
    `with product_licensor as (
        select * from unnest($3::text[], $4::text[]) as p(product, licensor)
      ), agreed as (
        select user_id, licensor, min(accepted_at) as agreed_from from agreements
          where accepted_at < $2 group by user_id, licensor
      )
      select distinct g.user_id, g.product
        from grants g
        join product_licensor p on p.product = g.product
        join agreed a on a.user_id = g.user_id and a.licensor = p.licensor
       where g.valid_from < $2
         and greatest(g.valid_from, a.agreed_from, $1)
           < least(coalesce(g.valid_to, ${FOREVER}), coalesce(g.revoked_at, ${FOREVER}), $2)`,
    [month.start, month.end, products.map((p) => p.id), products.map((p) => p.licensor)],
  );
  return new Set(rows.map((row) => pairKey(row.user_id, row.product)));
}

async function dailyUsage(q: Queryable, catalog: Catalog, month: UsageMonth): Promise<DailyRow[]> {
  const { rows } = await q.query<DailyRow>(
    `select product, user_id, device_id, min(first_realtime_at) as first, max(last_realtime_at) as last,
        sum(deliveries)::int8 as deliveries, sum(queries)::int8 as queries,
        sum(realtime_queries)::int8 as realtime_queries
      from usage_daily
     where day >= $1 and day < $2 and product = any($3::text[])
     group by product, user_id, device_id`,
    [month.firstDay, month.nextFirstDay, [...catalog.products.keys()]],
  );
  return rows;
}

/** Attestations made before the month ends, by user, oldest first: all the category depends on. */
async function attestationsOf(
  q: Queryable,
  userIds: readonly string[],
  month: UsageMonth,
): Promise<Map<string, AttestationFact[]>> {
  const { rows } = await q.query<{ user_id: string; status: Category; at: number }>(
    `select user_id, status, at from attestations
      where user_id = any($1::text[]) and at < $2 order by user_id, at, id`,
    [userIds, month.end],
  );
  const byUser = new Map<string, AttestationFact[]>();
  for (const row of rows) {
    let list = byUser.get(row.user_id);
    if (!list) {
      list = [];
      byUser.set(row.user_id, list);
    }
    list.push({ status: row.status, at: row.at });
  }
  return byUser;
}

function pairKey(userId: string, product: string): string {
  return `${userId}\u0000${product}`;
}

/**
 * Every (user, product) of the catalog with a grant open in the month or any usage in it, sorted
 * by product, then user; devices sorted by id. A user with usage but no user row (which the
 * entitlements never allow) counts as professional.
 */
export async function readMonthlyUsage(
  q: Queryable,
  catalog: Catalog,
  month: UsageMonth,
): Promise<MonthlyUsage[]> {
  const entitled = await entitledPairs(q, catalog, month);
  const daily = await dailyUsage(q, catalog, month);

  const pairs = new Map<string, MonthlyUsage>();
  const pair = (userId: string, product: string): MonthlyUsage => {
    const key = pairKey(userId, product);
    let usage = pairs.get(key);
    if (!usage) {
      usage = {
        userId,
        product,
        category: 'professional',
        entitled: entitled.has(key),
        accessed: false,
        devices: [],
      };
      pairs.set(key, usage);
    }
    return usage;
  };
  for (const key of entitled) {
    const [userId, product] = key.split('\u0000') as [string, string];
    pair(userId, product);
  }
  for (const row of daily) {
    const usage = pair(row.user_id, row.product);
    if (row.first !== null) usage.accessed = true;
    usage.devices.push({
      deviceId: row.device_id,
      firstRealtimeAt: row.first,
      lastRealtimeAt: row.last,
      deliveries: row.deliveries,
      queries: row.queries,
      realtimeQueries: row.realtime_queries,
    });
  }

  const users = [...new Set([...pairs.values()].map((usage) => usage.userId))];
  const attestations = await attestationsOf(q, users, month);
  const categories = new Map<string, Category>();
  for (const userId of users) {
    categories.set(userId, categoryForMonth({ attestations: attestations.get(userId) ?? [] }, month.month));
  }
  const result = [...pairs.values()];
  for (const usage of result) {
    usage.category = categories.get(usage.userId) ?? 'professional';
    usage.devices.sort((a, b) => compareText(a.deviceId, b.deviceId));
  }
  return result.sort((a, b) => compareText(a.product, b.product) || compareText(a.userId, b.userId));
}
