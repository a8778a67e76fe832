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
import { checkCorrection, reasonOnly } from './correction.js';

export interface RevokeInput {
  userId: string;
  product: string;
  /**
   * Epoch ms: when real time really ended, for a revocation entered late (a correction: `reason`
   * required, admin only, not in the future, not before the user existed). Omitted, now.
   */
  effectiveAt?: number;
  /** Why; kept in the audit log. Required with `effectiveAt`. */
  reason?: string;
}

export interface RevokeResult {
  /** The grants ended (in force, or scheduled to start later); empty when there were none. */
  revoked: GrantRecord[];
}

/** End of a grant row's effect in SQL; an open-ended grant ends at the largest int8. */
const GRANT_END = 'coalesce(least(valid_to, revoked_at), 9223372036854775807)';

interface Ended {
  /** The grants as they were before. */
  before: GrantRecord[];
  after: GrantRecord[];
}

/** Ends now the grants of the product still to have an effect: in force or scheduled. */
async function endNow(ctx: CatalogContext, input: RevokeInput): Promise<Ended> {
  const { rows } = await ctx.tx.query<GrantRow>(
    `update grants set revoked_at = $3, revoked_by = $4
      where user_id = $1 and product = $2 and ${openGrantCondition('$3')} returning ${GRANT_COLUMNS}`,
    [input.userId, input.product, ctx.at, actorRef(ctx.actor)],
  );
  const after = rows.map(toGrantRecord).sort((a, b) => a.id - b.id);
  const before = after.map((record) => ({
    ...record,
    revokedAt: null,
    revokedBy: null,
    revocationEnteredAt: null,
  }));
  return { before, after };
}

/** Ends at `effectiveAt` every grant of the product with an effect after it (see `revoke`). */
async function endAt(ctx: CatalogContext, input: RevokeInput, effectiveAt: number): Promise<Ended> {
  const reaching = `user_id = $1 and product = $2 and valid_from < ${GRANT_END} and ${GRANT_END} > $3`;
  const found = await ctx.tx.query<GrantRow>(
    `select ${GRANT_COLUMNS} from grants where ${reaching} order by id`,
    [input.userId, input.product, effectiveAt],
  );
  const { rows } = await ctx.tx.query<GrantRow>(
    `update grants set revoked_at = $3, revoked_by = $4, revocation_entered_at = $5
      where ${reaching} returning ${GRANT_COLUMNS}`,
    [input.userId, input.product, effectiveAt, actorRef(ctx.actor), ctx.at],
  );
  return {
    before: found.rows.map(toGrantRecord),
    after: rows.map(toGrantRecord).sort((a, b) => a.id - b.id),
  };
}

/**
 * Ends the user's real time for one product now. Idempotent: nothing to end records nothing.
 *
 * Backdated (`effectiveAt`), it ends real time now just the same, and the history says it ended at
 * `effectiveAt`: every grant of the product with an effect after that instant ends there — those
 * in force or scheduled, and those that ended later on their own or were replaced (an end is only
 * ever moved earlier, and the audit record's `before` keeps the one it replaces).
 * `revocation_entered_at` keeps when the correction was entered.
 */
export async function revoke({
  ctx,
  input,
}: {
  ctx: CatalogContext;
  input: RevokeInput;
}): Promise<VerbOutcome<RevokeResult>> {
  authorize(ctx.actor, 'grants.change');
  if (!ctx.catalog.products.has(input.product)) throw unknownProduct(input.product);
  const user = await lockUser(ctx.tx, input.userId);
  const { effectiveAt } = input;
  if (effectiveAt !== undefined) checkCorrection(ctx, user, 'effectiveAt', effectiveAt, input.reason);
  const { before, after: revoked } =
    effectiveAt === undefined ? await endNow(ctx, input) : await endAt(ctx, input, effectiveAt);
  if (revoked.length === 0) return { value: { revoked }, changed: NO_CHANGES };
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'grant.revoke',
    subject: userSubject(input.userId),
    before: { grants: before },
    after: { grants: revoked },
    details: {
      product: input.product,
      ...(effectiveAt === undefined ? reasonOnly(input.reason) : { reason: input.reason, effectiveAt }),
    },
    at: ctx.at,
  });
  return { value: { revoked }, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
