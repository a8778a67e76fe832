/**
 * A correction: a change recorded with an effect date in the past (DESIGN rule 3), because it
 * really happened then — an attestation filed late, a grant or a revocation entered after the
 * fact. The effect date is what the history, the report and billing read; the entry time stays on
 * the row and in the audit record (its `at`), with the actor and the reason, so an auditor sees
 * both when it took effect and when and by whom it was entered.
 */
import type { VerbContext } from '../../platform/actor.js';
import { InvalidInputError } from '../errors.js';
import { authorize } from '../permissions.js';
import type { UserRow } from './common.js';

/**
 * Checks a correction before anything is written: the actor may enter one, a reason is given, and
 * the effect date is neither in the future nor before the user existed.
 */
export function checkCorrection(
  ctx: VerbContext,
  user: Pick<UserRow, 'id' | 'created_at'>,
  field: string,
  effectiveAt: number,
  reason: string | undefined,
): void {
  authorize(ctx.actor, 'corrections.record');
  if (reason === undefined || reason.trim() === '') {
    throw new InvalidInputError('reason_required', `${field} makes this a correction: give its reason`);
  }
  if (effectiveAt > ctx.at) {
    throw new InvalidInputError(
      'effective_date_in_future',
      `${field} (${new Date(effectiveAt).toISOString()}) is in the future; a correction records what already happened`,
    );
  }
  if (effectiveAt < user.created_at) {
    throw new InvalidInputError(
      'effective_date_before_user',
      `${field} (${new Date(effectiveAt).toISOString()}) is before user ${JSON.stringify(user.id)} existed (${new Date(user.created_at).toISOString()})`,
    );
  }
}

/** The audit details of a change that is not a correction: its reason, when one was given. */
export function reasonOnly(reason: string | undefined): { reason: string } | undefined {
  return reason === undefined ? undefined : { reason };
}
