/**
 * Real-time subscribers per product and UTC day, from the daily ledger (migrations/0004_ledger.sql):
 * what the console charts so compliance sees how a month's count built up. A subscriber is counted
 * on the product's unit, as the monthly report counts them: a user, or each of a user's devices
 * for `device` products; only rows with a real-time access that day count, and only display use:
 * an application's (non-display) use is no display subscriber.
 */
import type { Catalog } from '../config/index.js';
import type { Queryable } from '../platform/db/index.js';
import type { UsageMonth } from './month.js';

export interface DailySubscribers {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  product: string;
  subscribers: number;
}

export interface DailyUsage {
  month: string;
  /** Days with at least one real-time subscriber, by day then product; absent days had none. */
  days: DailySubscribers[];
}

export async function readDailyUsage(q: Queryable, catalog: Catalog, month: UsageMonth): Promise<DailyUsage> {
  const products = [...catalog.products.values()];
  const { rows } = await q.query<{ day: string; product: string; users: number; devices: number }>(
    `select day, product, count(distinct user_id)::int as users,
        count(distinct (user_id, device_id))::int as devices
      from usage_daily
     where day >= $1 and day < $2 and product = any($3::text[]) and first_realtime_at is not null
       and usage = 'display'
     group by day, product
     order by day, product collate "C"`,
    [month.firstDay, month.nextFirstDay, products.map((p) => p.id)],
  );
  const byDevice = new Set(products.filter((p) => p.unit === 'device').map((p) => p.id));
  return {
    month: month.month,
    days: rows.map((row) => ({
      day: row.day,
      product: row.product,
      subscribers: byDevice.has(row.product) ? row.devices : row.users,
    })),
  };
}
