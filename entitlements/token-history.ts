/**
 * What each user's tokens were issued for during a window: for a person's display, for an
 * application without one (non-display), or both. The usage report asks it so that a user whose
 * every token was an application's is never counted as a display subscriber only for holding a
 * grant (DESIGN rule 3), while their application's use is counted under `non_display`.
 *
 * Tokens are never deleted and a revocation only sets `revoked_at`, so the answer for a past window
 * never changes.
 */
import type { Queryable } from '../platform/db/index.js';
import type { Interval } from './history.js';
import type { TokenUsage } from './tokens.js';

/**
 * For each of `userIds` holding a token at some instant of `window` (issued before its end, not
 * revoked before its start), the usages of those tokens; users with none are left out.
 */
export async function tokenUsagesDuring(
  q: Queryable,
  userIds: readonly string[],
  window: Interval,
): Promise<Map<string, ReadonlySet<TokenUsage>>> {
  const { rows } = await q.query<{ user_id: string; usage: TokenUsage }>(
    `select distinct user_id, usage from user_tokens
      where user_id = any($1::text[]) and created_at < $3 and (revoked_at is null or revoked_at > $2)`,
    [userIds, window.from, window.to],
  );
  const usages = new Map<string, Set<TokenUsage>>();
  for (const row of rows) {
    let set = usages.get(row.user_id);
    if (!set) {
      set = new Set();
      usages.set(row.user_id, set);
    }
    set.add(row.usage);
  }
  return usages;
}
