/**
 * Questions about the past, answered from the grant history: who held a real-time grant for a
 * product at an instant, and over which intervals one user held it. Grants are never deleted and
 * their validity never rewritten, and closing an account ends its grants, so the answer for any
 * past instant is the one that held then. Suspension, delinquency and missing agreements are not
 * subtracted: a grant is what the user was permissioned for, and an exchange counts permissioned
 * users ("when in doubt, count").
 */
import type { Queryable } from '../platform/db/index.js';

/** Effective end of a grant row in SQL; an open-ended grant ends at the largest int8. */
const END = 'coalesce(least(valid_to, revoked_at), 9223372036854775807)';

/** Users holding a real-time grant for `product` at `at` (epoch ms), sorted by id. */
export async function usersEntitledAt(db: Queryable, product: string, at: number): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string }>(
    `select user_id from grants where product = $1 and valid_from <= $2 and ${END} > $2
      group by user_id order by user_id collate "C"`,
    [product, at],
  );
  return rows.map((row) => row.user_id);
}

export interface Interval {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
}

/**
 * The disjoint, sorted intervals within `[from, to)` during which `userId` held a real-time grant
 * for `product`; touching or overlapping grants (a PUT superseding another) merge into one.
 */
export async function realtimeIntervals(
  db: Queryable,
  userId: string,
  product: string,
  from: number,
  to: number,
): Promise<Interval[]> {
  if (to <= from) return [];
  const { rows } = await db.query<{ valid_from: number; valid_to: number | null; revoked_at: number | null }>(
    `select valid_from, valid_to, revoked_at from grants
      where user_id = $1 and product = $2 and valid_from < $4 and ${END} > $3
      order by valid_from, id`,
    [userId, product, from, to],
  );
  const merged: Interval[] = [];
  for (const row of rows) {
    const start = Math.max(row.valid_from, from);
    const end = Math.min(row.valid_to ?? to, row.revoked_at ?? to, to);
    if (end <= start) continue;
    const last = merged[merged.length - 1];
    if (last && start <= last.to) last.to = Math.max(last.to, end);
    else merged.push({ from: start, to: end });
  }
  return merged;
}
