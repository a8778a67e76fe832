import { appendAudit } from '../../audit/index.js';
import type { Category } from '../../config/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { attestationExpiry } from '../category.js';
import { recordChanges } from '../changes.js';
import { authorize } from '../permissions.js';
import { lockOpenUser, userSubject, type VerbOutcome } from './common.js';
import { checkCorrection, reasonOnly } from './correction.js';

export interface AttestInput {
  userId: string;
  status: Category;
  /** The questionnaire as answered (JSON), kept as evidence of the status. */
  answers?: Record<string, unknown>;
  /**
   * Epoch ms: when the status really took effect, for an attestation recorded late (a correction:
   * `reason` required, admin or compliance only, not in the future, not before the user existed).
   * Omitted, it takes effect now.
   */
  effectiveFrom?: number;
  /** Why; kept in the audit log. Required with `effectiveFrom`. */
  reason?: string;
}

export interface Attestation {
  id: number;
  status: Category;
  /** When it was recorded. */
  at: number;
  /** When it took effect: `at`, or the effect date of a late-recorded attestation. */
  effectiveFrom: number;
  /** When a non-professional status lapses back to professional (12 months from `effectiveFrom`); null for professional. */
  expiresAt: number | null;
}

/**
 * Records a professional / non-professional attestation; the one that took effect latest wins.
 * A late-recorded one counts from its effect date in reports and billing, and in live decisions
 * from now on (its 12 months still run from the effect date).
 */
export async function attest({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: AttestInput;
}): Promise<VerbOutcome<Attestation>> {
  authorize(ctx.actor, 'attestations.record');
  const user = await lockOpenUser(ctx.tx, input.userId);
  const corrected = input.effectiveFrom !== undefined;
  const effectiveFrom = input.effectiveFrom ?? ctx.at;
  if (corrected) checkCorrection(ctx, user, 'effectiveFrom', effectiveFrom, input.reason);
  const { rows } = await ctx.tx.query<{ id: number }>(
    'insert into attestations (user_id, status, answers, at, effective_from) values ($1, $2, $3, $4, $5) returning id',
    [
      input.userId,
      input.status,
      input.answers === undefined ? null : JSON.stringify(input.answers),
      ctx.at,
      corrected ? effectiveFrom : null,
    ],
  );
  const attestation: Attestation = {
    id: rows[0]!.id,
    status: input.status,
    at: ctx.at,
    effectiveFrom,
    expiresAt: input.status === 'non_professional' ? attestationExpiry(effectiveFrom) : null,
  };
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'attestation.record',
    subject: userSubject(input.userId),
    after: { ...attestation, answers: input.answers ?? null },
    details: corrected ? { reason: input.reason, effectiveFrom } : reasonOnly(input.reason),
    at: ctx.at,
  });
  return { value: attestation, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
