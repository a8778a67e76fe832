/**
 * Who gets a product's data in real time, at one instant, and why not (DESIGN rule 2). The one
 * place the rule lives: the admin API, the edge cache and distribution all call `decide`, and the
 * entitlement history (`history.ts`) evaluates the conditions it can date, `grantCovers` and
 * `agreementOnFile`, over the past.
 */
import {
  type AgreementFact,
  type GrantSpan,
  grantEnd,
  type ProductTerms,
  type UserSnapshot,
} from './snapshot.js';

/**
 * Every reason a user may not have real time, in the order they are reported. `no_grant`,
 * `grant_not_started` and `grant_expired` are three explanations of one failed condition (no grant
 * covers the instant), so at most one of them is given; likewise the two agreement reasons.
 */
export const REASONS = [
  'unknown_user',
  'unknown_product',
  'closed',
  'suspended',
  'delinquent',
  'no_grant',
  'grant_not_started',
  'grant_expired',
  'agreement_missing',
  'agreement_outdated',
  'session_limit',
  'unverified',
  'delayed_not_offered',
] as const;

export type Reason = (typeof REASONS)[number];

/** What a client or an operator is shown for each reason. */
export const REASON_TEXT: Readonly<Record<Reason, string>> = {
  unknown_user: 'There is no account with this id.',
  unknown_product: 'This product is not in the catalog.',
  closed: 'The account is closed.',
  suspended: 'The account is suspended.',
  delinquent: 'Billing is overdue; real-time data resumes once the account is paid up.',
  no_grant: 'There is no real-time subscription to this product.',
  grant_not_started: 'The real-time subscription to this product has not started yet.',
  grant_expired: 'The real-time subscription to this product has ended.',
  agreement_missing: "The exchange's subscriber agreement for this product has not been accepted.",
  agreement_outdated: "A newer version of the exchange's subscriber agreement must be accepted.",
  session_limit: 'Too many sessions are open at once for this account.',
  unverified:
    'Entitlements are being re-checked after a connection problem; real time resumes once they are confirmed.',
  delayed_not_offered: 'This product is not offered delayed.',
};

export type Mode = 'realtime' | 'delayed' | 'refused';

export interface Decision {
  mode: Mode;
  /** Every reason that applies, in `REASONS` order; empty exactly when the mode is realtime. */
  reasons: Reason[];
}

export interface DecideOptions {
  /** Sessions the user has open, the one being decided included; omitted, the limit is not checked. */
  sessions?: number;
  /**
   * False while the caller's copy of the entitlements may have missed a change (its change feed
   * dropped and the reload is not in yet): real time is withheld until it is confirmed.
   */
  verified?: boolean;
}

const ORDER = new Map<Reason, number>(REASONS.map((reason, index) => [reason, index]));

function ordered(reasons: Set<Reason>): Reason[] {
  return [...reasons].sort((a, b) => (ORDER.get(a) ?? 0) - (ORDER.get(b) ?? 0));
}

/** The grant condition: a grant for `product` is in effect at `at` (started, not ended, not revoked). */
export function grantCovers(grants: readonly GrantSpan[], product: string, at: number): boolean {
  return grants.some((grant) => grant.product === product && grant.validFrom <= at && at < grantEnd(grant));
}

/**
 * The agreement condition: the licensor's subscriber agreement was accepted at or before `at`, in
 * `version` when one is given, in any version when not.
 */
export function agreementOnFile(
  agreements: readonly AgreementFact[],
  licensor: string,
  at: number,
  version?: string,
): boolean {
  return agreements.some(
    (agreement) =>
      agreement.licensor === licensor &&
      agreement.acceptedAt <= at &&
      (version === undefined || agreement.version === version),
  );
}

/** Why no grant for `product` covers `at`: none yet in effect, or all of them over. */
function missingGrantReason(user: UserSnapshot, product: string, at: number): Reason {
  let startsLater = false;
  let lastEnd: { end: number; byValidity: boolean } | undefined;
  for (const grant of user.grants) {
    if (grant.product !== product) continue;
    const end = grantEnd(grant);
    if (end <= grant.validFrom) continue;
    if (grant.validFrom > at) startsLater = true;
    else if (!lastEnd || end > lastEnd.end) lastEnd = { end, byValidity: grant.validTo === end };
  }
  if (startsLater) return 'grant_not_started';
  // A grant ended by revocation reads as no grant: the user was not promised it would last.
  return lastEnd?.byValidity ? 'grant_expired' : 'no_grant';
}

/**
 * Real time only while: the account is active, a grant for the product covers `at`, the
 * licensor's current agreement was accepted by `at`, the session limit is kept, and billing is
 * not delinquent. Otherwise delayed when the product allows it, else refused; a closed account,
 * an unknown user or an unknown product is refused everything.
 */
export function decide(
  user: UserSnapshot | undefined,
  product: ProductTerms | undefined,
  at: number,
  options: DecideOptions = {},
): Decision {
  const reasons = new Set<Reason>();
  if (!user) reasons.add('unknown_user');
  if (!product) reasons.add('unknown_product');
  if (!user || !product) return { mode: 'refused', reasons: ordered(reasons) };

  if (user.status === 'closed') reasons.add('closed');
  if (user.status === 'suspended') reasons.add('suspended');
  if (user.delinquent) reasons.add('delinquent');
  if (!grantCovers(user.grants, product.id, at)) reasons.add(missingGrantReason(user, product.id, at));
  if (!agreementOnFile(user.agreements, product.licensor, at, product.agreementVersion)) {
    // Another version on file means the user agreed once and must agree to the new terms.
    const older = agreementOnFile(user.agreements, product.licensor, at);
    reasons.add(older ? 'agreement_outdated' : 'agreement_missing');
  }
  if (options.sessions !== undefined && options.sessions > user.sessionLimit) reasons.add('session_limit');
  if (options.verified === false) reasons.add('unverified');

  if (reasons.size === 0) return { mode: 'realtime', reasons: [] };
  if (!product.delayedAllowed) reasons.add('delayed_not_offered');
  const mode: Mode = user.status === 'closed' || !product.delayedAllowed ? 'refused' : 'delayed';
  return { mode, reasons: ordered(reasons) };
}

/** The reasons in words, in the same order. */
export function reasonWords(reasons: readonly Reason[]): string[] {
  return reasons.map((reason) => REASON_TEXT[reason]);
}
