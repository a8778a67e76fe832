import { appendAudit } from '../../audit/index.js';
import { NO_CHANGES, recordChanges } from '../changes.js';
import { unknownProduct } from '../errors.js';
import {
  GRANT_COLUMNS,
  type GrantRecord,
  type GrantRow,
  openGrantCondition,
  toGrantRecord,
} from '../grants.js';
import { authorize } from '../permissions.js';
import { actorRef, type CatalogContext, lockUser, userSubject, type VerbOutcome } from './common.js';

export interface RevokeInput {
  userId: string;
  product: string;
}

export interface RevokeResult {
  /** The grants ended now (in force, or scheduled to start later); empty when there were none. */
  revoked: GrantRecord[];
}

/** Ends the user's real time for one product now. Idempotent: nothing to end records nothing. */
export async function revoke({
  ctx,
  input,
}: {
  ctx: CatalogContext;
  input: RevokeInput;
}): Promise<VerbOutcome<RevokeResult>> {
  authorize(ctx.actor, 'grants.change');
  if (!ctx.catalog.products.has(input.product)) throw unknownProduct(input.product);
  await lockUser(ctx.tx, input.userId);
  const { rows } = await ctx.tx.query<GrantRow>(
    `update grants set revoked_at = $3, revoked_by = $4
      where user_id = $1 and product = $2 and ${openGrantCondition('$3')} returning ${GRANT_COLUMNS}`,
    [input.userId, input.product, ctx.at, actorRef(ctx.actor)],
  );
  const revoked = rows.map(toGrantRecord).sort((a, b) => a.id - b.id);
  if (revoked.length === 0) return { value: { revoked }, changed: NO_CHANGES };
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'grant.revoke',
    subject: userSubject(input.userId),
    before: { grants: revoked.map((record) => ({ ...record, revokedAt: null, revokedBy: null })) },
    after: { grants: revoked },
    details: { product: input.product },
    at: ctx.at,
  });
  return { value: { revoked }, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
