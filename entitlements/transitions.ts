import { attestationExpiry } from './category.js';
import type { UserSnapshot } from './snapshot.js';

/**
 * The first instant after `after` at which the user's decision or category can change with no
 * API call: a grant starting or ending, an agreement or attestation taking effect, a
 * non-professional attestation expiring. Undefined when nothing is scheduled.
 */
export function nextTransition(user: UserSnapshot, after: number): number | undefined {
  let next = Number.POSITIVE_INFINITY;
  const consider = (instant: number | null): void => {
    if (instant !== null && instant > after && instant < next) next = instant;
  };
  for (const grant of user.grants) {
    consider(grant.validFrom);
    consider(grant.validTo);
    consider(grant.revokedAt);
  }
  for (const agreement of user.agreements) consider(agreement.acceptedAt);
  for (const attestation of user.attestations) {
    consider(attestation.at);
    if (attestation.status === 'non_professional') consider(attestationExpiry(attestation.at));
  }
  return Number.isFinite(next) ? next : undefined;
}
