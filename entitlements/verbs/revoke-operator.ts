import { appendAudit } from '../../audit/index.js';
import type { OperatorRole, VerbContext } from '../../platform/actor.js';
import { NO_CHANGES } from '../changes.js';
import { ConflictError, NotFoundError } from '../errors.js';
import { authorize } from '../permissions.js';
import type { VerbOutcome } from './common.js';
import { operatorSubject } from './create-operator.js';

/** Revokes an operator's token now; `revoked` is false when it already was. */
export async function revokeOperator({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: { id: string };
}): Promise<VerbOutcome<{ revoked: boolean }>> {
  authorize(ctx.actor, 'operators.manage');
  // Every admin row is locked so two admins revoking each other cannot both pass the last-admin check.
  const admins = await ctx.tx.query<{ id: string }>(
    "select id from operators where role = 'admin' and revoked_at is null order by id for update",
  );
  const { rows } = await ctx.tx.query<{ role: OperatorRole; revoked_at: number | null }>(
    'select role, revoked_at from operators where id = $1 for update',
    [input.id],
  );
  const operator = rows[0];
  if (!operator)
    throw new NotFoundError('unknown_operator', `no operator with id ${JSON.stringify(input.id)}`);
  if (operator.revoked_at !== null) return { value: { revoked: false }, changed: NO_CHANGES };
  if (operator.role === 'admin' && admins.rows.length <= 1) {
    throw new ConflictError('last_admin', 'the last admin cannot be revoked; create another admin first');
  }
  await ctx.tx.query('update operators set revoked_at = $2 where id = $1', [input.id, ctx.at]);
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'operator.revoke',
    subject: operatorSubject(input.id),
    before: { id: input.id, role: operator.role, revokedAt: null },
    after: { id: input.id, role: operator.role, revokedAt: ctx.at },
    at: ctx.at,
  });
  return { value: { revoked: true }, changed: NO_CHANGES };
}
