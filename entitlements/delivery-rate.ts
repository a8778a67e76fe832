/**
 * The per-plan delivery rate: how many updates a second, per symbol and channel type, a user may
 * receive of a product. A user may carry one (their plan, whatever the product) and so may each
 * grant (the product's plan); when both do, the stricter — the smaller — applies. It limits how
 * often data arrives, never whether: the real-time decision (`decide.ts`) is untouched by it.
 */
import { grantEnd, type UserSnapshot } from './snapshot.js';

/** The largest rate accepted: one update a millisecond per symbol. */
export const MAX_UPDATES_PER_SECOND = 1000;

/**
 * The rate in force for `productId` at `at`: the smaller of the user's and that of the grant
 * covering `at`; undefined when neither carries one (no limit).
 */
export function deliveryRate(
  user: UserSnapshot | undefined,
  productId: string,
  at: number,
): number | undefined {
  if (user === undefined) return undefined;
  let rate = user.maxUpdatesPerSecond;
  for (const grant of user.grants) {
    const own = grant.maxUpdatesPerSecond;
    if (own === undefined || grant.product !== productId) continue;
    if (grant.validFrom > at || at >= grantEnd(grant)) continue;
    if (rate === undefined || own < rate) rate = own;
  }
  return rate;
}
