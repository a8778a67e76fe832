import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { NO_CHANGES, recordChanges } from '../changes.js';
import { authorize } from '../permissions.js';
import { lockUser, userSubject, type VerbOutcome } from './common.js';

export interface SetDelinquentInput {
  userId: string;
  delinquent: boolean;
  /** Why, e.g. the Stripe event id; kept in the audit log. */
  reason: string;
}

/**
 * Marks billing delinquent (real time stops, delayed data continues) or paid up again. Billing
 * calls it inside its own transaction; the change is in the outbox with it, and billing flushes the
 * relay after committing.
 */
export async function setDelinquent({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: SetDelinquentInput;
}): Promise<VerbOutcome<{ delinquent: boolean; changed: boolean }>> {
  authorize(ctx.actor, 'delinquency.set');
  const user = await lockUser(ctx.tx, input.userId);
  if (user.billing_delinquent === input.delinquent) {
    return { value: { delinquent: input.delinquent, changed: false }, changed: NO_CHANGES };
  }
  await ctx.tx.query('update users set billing_delinquent = $2 where id = $1', [
    input.userId,
    input.delinquent,
  ]);
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'user.delinquency',
    subject: userSubject(input.userId),
    before: { delinquent: user.billing_delinquent },
    after: { delinquent: input.delinquent },
    details: { reason: input.reason },
    at: ctx.at,
  });
  return {
    value: { delinquent: input.delinquent, changed: true },
    changed: await recordChanges(ctx.tx, [input.userId], ctx.at),
  };
}
