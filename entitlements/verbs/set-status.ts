import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { NO_CHANGES, recordChanges } from '../changes.js';
import { accountClosed } from '../errors.js';
import { GRANT_COLUMNS, type GrantRow, openGrantCondition, toGrantRecord } from '../grants.js';
import { authorize } from '../permissions.js';
import type { AccountStatus } from '../snapshot.js';
import { actorRef, lockUser, userSubject, type VerbOutcome } from './common.js';

export interface SetStatusInput {
  userId: string;
  status: AccountStatus;
  /** Why, in words; kept in the audit log. */
  reason: string;
}

export interface StatusChange {
  status: AccountStatus;
  /** False when the account already had this status (nothing recorded). */
  changed: boolean;
  /** Grants ended because the account was closed. */
  endedGrants: number;
}

/**
 * Suspends, reactivates or closes an account. Suspension keeps the grants (reactivation restores
 * real time); closing is final and ends every grant now, so the grant history says the closed
 * account was entitled to nothing from then on.
 */
export async function setStatus({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: SetStatusInput;
}): Promise<VerbOutcome<StatusChange>> {
  authorize(ctx.actor, 'status.change');
  const user = await lockUser(ctx.tx, input.userId);
  if (user.status === input.status)
    return { value: { status: user.status, changed: false, endedGrants: 0 }, changed: NO_CHANGES };
  if (user.status === 'closed') throw accountClosed(input.userId);
  await ctx.tx.query('update users set status = $2 where id = $1', [input.userId, input.status]);
  let ended: GrantRow[] = [];
  if (input.status === 'closed') {
    const result = await ctx.tx.query<GrantRow>(
      `update grants set revoked_at = $2, revoked_by = $3 where user_id = $1 and ${openGrantCondition('$2')}
        returning ${GRANT_COLUMNS}`,
      [input.userId, ctx.at, actorRef(ctx.actor)],
    );
    ended = result.rows;
  }
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'user.status',
    subject: userSubject(input.userId),
    before: { status: user.status },
    after: { status: input.status },
    details: { reason: input.reason, endedGrants: ended.map(toGrantRecord).sort((a, b) => a.id - b.id) },
    at: ctx.at,
  });
  return {
    value: { status: input.status, changed: true, endedGrants: ended.length },
    changed: await recordChanges(ctx.tx, [input.userId], ctx.at),
  };
}
