import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { NO_CHANGES, recordChanges } from '../changes.js';
import { MAX_UPDATES_PER_SECOND } from '../delivery-rate.js';
import { InvalidInputError } from '../errors.js';
import { authorize } from '../permissions.js';
import { lockOpenUser, userSubject, type VerbOutcome } from './common.js';

/** Refuses a rate that is not a whole number of updates a second from 1 to `MAX_UPDATES_PER_SECOND`. */
export function checkRate(rate: number): void {
  if (!Number.isInteger(rate) || rate < 1 || rate > MAX_UPDATES_PER_SECOND) {
    throw new InvalidInputError(
      'invalid_rate',
      `maxUpdatesPerSecond must be a whole number from 1 to ${MAX_UPDATES_PER_SECOND}, not ${rate}`,
    );
  }
}

export interface SetDeliveryRateInput {
  userId: string;
  /** Updates a second per symbol, whatever the product; null removes the user's own limit. */
  maxUpdatesPerSecond: number | null;
}

export interface DeliveryRateChange {
  maxUpdatesPerSecond: number | null;
  /** False when the user already had this rate (nothing recorded). */
  changed: boolean;
}

/**
 * Sets the user's own delivery rate (their plan's, for every product). A grant's rate still
 * applies beside it: the edges deliver at the smaller of the two. Like a session limit it is part
 * of what the user is sold, so setting it is granting.
 */
export async function setDeliveryRate({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: SetDeliveryRateInput;
}): Promise<VerbOutcome<DeliveryRateChange>> {
  authorize(ctx.actor, 'grants.change');
  if (input.maxUpdatesPerSecond !== null) checkRate(input.maxUpdatesPerSecond);
  await lockOpenUser(ctx.tx, input.userId);
  const { rows } = await ctx.tx.query<{ max_updates_per_second: number | null }>(
    'select max_updates_per_second from users where id = $1',
    [input.userId],
  );
  const before = rows[0]?.max_updates_per_second ?? null;
  if (before === input.maxUpdatesPerSecond) {
    return { value: { maxUpdatesPerSecond: before, changed: false }, changed: NO_CHANGES };
  }
  await ctx.tx.query('update users set max_updates_per_second = $2 where id = $1', [
    input.userId,
    input.maxUpdatesPerSecond,
  ]);
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'user.delivery_rate',
    subject: userSubject(input.userId),
    before: { maxUpdatesPerSecond: before },
    after: { maxUpdatesPerSecond: input.maxUpdatesPerSecond },
    at: ctx.at,
  });
  return {
    value: { maxUpdatesPerSecond: input.maxUpdatesPerSecond, changed: true },
    changed: await recordChanges(ctx.tx, [input.userId], ctx.at),
  };
}
