import { appendAudit } from '../../audit/index.js';
import { recordChanges } from '../changes.js';
import { InvalidInputError, unknownProduct } from '../errors.js';
import {
  GRANT_COLUMNS,
  type GrantRecord,
  type GrantRow,
  openGrantCondition,
  toGrantRecord,
} from '../grants.js';
import { authorize } from '../permissions.js';
import { actorRef, type CatalogContext, lockOpenUser, userSubject, type VerbOutcome } from './common.js';
import { checkCorrection, reasonOnly } from './correction.js';
import { checkRate } from './delivery-rate.js';

export interface GrantInput {
  userId: string;
  product: string;
  /**
   * Epoch ms; omitted, the grant starts now. In the past it starts now too — a grant never
   * rewrites the past — unless `reason` is given: then it is a grant backdated to when it really
   * started (a correction: admin only, not before the user existed).
   */
  validFrom?: number;
  /** Epoch ms, exclusive; omitted, the grant is open-ended. */
  validTo?: number;
  /** Why; kept in the audit log. With a `validFrom` in the past, it makes the grant a correction. */
  reason?: string;
  /** The plan's delivery rate, updates a second per symbol (1 to 1000); omitted, no limit of the grant's own. */
  maxUpdatesPerSecond?: number;
}

export interface GrantResult {
  grant: GrantRecord;
  /** Earlier grants for the product this one replaces, as they are now (ended). */
  superseded: GrantRecord[];
}

/**
 * Gives the user real time for one product over `[validFrom, validTo)`. The product's grants
 * still to have an effect are ended now and point at this one: history is appended to, never
 * rewritten, so the grants in force at any past instant can still be read back. A backdated grant
 * that has ended already (`validTo` not after now) is history only: it replaces nothing.
 */
export async function grant({
  ctx,
  input,
}: {
  ctx: CatalogContext;
  input: GrantInput;
}): Promise<VerbOutcome<GrantResult>> {
  authorize(ctx.actor, 'grants.change');
  if (!ctx.catalog.products.has(input.product)) throw unknownProduct(input.product);
  const user = await lockOpenUser(ctx.tx, input.userId);
  const backdatedFrom =
    input.reason !== undefined && input.validFrom !== undefined && input.validFrom < ctx.at
      ? input.validFrom
      : undefined;
  if (backdatedFrom !== undefined) checkCorrection(ctx, user, 'validFrom', backdatedFrom, input.reason);
  const validFrom = backdatedFrom ?? Math.max(input.validFrom ?? ctx.at, ctx.at);
  const validTo = input.validTo ?? null;
  const rate = input.maxUpdatesPerSecond ?? null;
  if (rate !== null) checkRate(rate);
  if (validTo !== null && validTo <= validFrom) {
    throw new InvalidInputError(
      'invalid_interval',
      `validTo (${new Date(validTo).toISOString()}) must be after the grant starts (${new Date(validFrom).toISOString()})`,
    );
  }
  const by = actorRef(ctx.actor);
  const inserted = await ctx.tx.query<GrantRow>(
    `insert into grants (user_id, product, valid_from, valid_to, created_at, created_by, max_updates_per_second)
      values ($1, $2, $3, $4, $5, $6, $7) returning ${GRANT_COLUMNS}`,
    [input.userId, input.product, validFrom, validTo, ctx.at, by, rate],
  );
  const created = toGrantRecord(inserted.rows[0]!);
  const current = validTo === null || validTo > ctx.at;
  const ended = current
    ? await ctx.tx.query<GrantRow>(
        `update grants set revoked_at = $3, revoked_by = $4, superseded_by = $5
          where user_id = $1 and product = $2 and id <> $5 and ${openGrantCondition('$3')}
          returning ${GRANT_COLUMNS}`,
        [input.userId, input.product, ctx.at, by, created.id],
      )
    : { rows: [] };
  const superseded = ended.rows.map(toGrantRecord).sort((a, b) => a.id - b.id);
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'grant.create',
    subject: userSubject(input.userId),
    before: {
      grants: superseded.map((record) => ({
        ...record,
        revokedAt: null,
        revokedBy: null,
        revocationEnteredAt: null,
        supersededBy: null,
      })),
    },
    after: { grant: created, superseded: superseded.map((record) => record.id) },
    details: {
      product: input.product,
      ...(backdatedFrom === undefined
        ? reasonOnly(input.reason)
        : { reason: input.reason, effectiveFrom: backdatedFrom }),
    },
    at: ctx.at,
  });
  return {
    value: { grant: created, superseded },
    changed: await recordChanges(ctx.tx, [input.userId], ctx.at),
  };
}
