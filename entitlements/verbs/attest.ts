import { appendAudit } from '../../audit/index.js';
import type { Category } from '../../config/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { attestationExpiry } from '../category.js';
import { recordChanges } from '../changes.js';
import { authorize } from '../permissions.js';
import { lockOpenUser, userSubject, type VerbOutcome } from './common.js';

export interface AttestInput {
  userId: string;
  status: Category;
  /** The questionnaire as answered (JSON), kept as evidence of the status. */
  answers?: Record<string, unknown>;
}

export interface Attestation {
  id: number;
  status: Category;
  at: number;
  /** When a non-professional status lapses back to professional; null for professional. */
  expiresAt: number | null;
}

/** Records a professional / non-professional attestation; the latest one on file wins. */
export async function attest({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: AttestInput;
}): Promise<VerbOutcome<Attestation>> {
  authorize(ctx.actor, 'attestations.record');
  await lockOpenUser(ctx.tx, input.userId);
  const { rows } = await ctx.tx.query<{ id: number }>(
    'insert into attestations (user_id, status, answers, at) values ($1, $2, $3, $4) returning id',
    [input.userId, input.status, input.answers === undefined ? null : JSON.stringify(input.answers), ctx.at],
  );
  const attestation: Attestation = {
    id: rows[0]!.id,
    status: input.status,
    at: ctx.at,
    expiresAt: input.status === 'non_professional' ? attestationExpiry(ctx.at) : null,
  };
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'attestation.record',
    subject: userSubject(input.userId),
    after: { ...attestation, answers: input.answers ?? null },
    at: ctx.at,
  });
  return { value: attestation, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
