/**
 * "Who could receive product P in real time during [a, b)": the one home of that question (DESIGN
 * rule 7's `entitled` basis). The exchange usage report asks it for every month, and through the
 * report so does billing's month close; `history-store.ts` loads the facts it is answered from.
 *
 * The answer is `decide`'s own rule evaluated over the past, with its own condition code
 * (`grantCovers`, `agreementOnFile` in `decide.ts`), for the conditions that have a history:
 * - **a grant covers the instant**: subtracted. Grants are never deleted and their validity is
 *   never rewritten (a change ends a grant and starts another), so the grants say what held at
 *   any past instant. Closing an account ends its grants, so a closed account is subtracted too.
 * - **the licensor's agreement is on file**: subtracted. Agreements are only ever added, with the
 *   instant they were accepted. Their **version** is not part of the history (which version the
 *   catalog required back then is not recorded), so any version of the licensor's agreement
 *   counts: `decide`'s `agreement_outdated` is not subtracted, only `agreement_missing`.
 * The conditions without a history are not subtracted, "when in doubt, count": account
 * suspension and billing delinquency (entitlements keeps only their current value), and the
 * session limit and the re-check after a lost change feed, which belong to a session on an edge,
 * not to what the user was entitled to.
 *
 * Both conditions are constant between the instants at which a grant starts or ends or an
 * agreement is accepted (a grant holds over `[validFrom, end)`, an agreement from its acceptance
 * on), so evaluating them at the window's start and at every such instant inside it decides every
 * instant of the window.
 */
import { agreementOnFile, grantCovers } from './decide.js';
import { type AgreementFact, type GrantSpan, grantEnd, type ProductTerms } from './snapshot.js';

export interface Interval {
  /** Inclusive, epoch ms. */
  from: number;
  /** Exclusive, epoch ms. */
  to: number;
}

/** What the history of one user is made of: the part of a `UserSnapshot` that has a past. */
export interface HistoryFacts {
  grants: readonly GrantSpan[];
  agreements: readonly AgreementFact[];
}

function openAt(facts: HistoryFacts, product: Pick<ProductTerms, 'id' | 'licensor'>, at: number): boolean {
  return grantCovers(facts.grants, product.id, at) && agreementOnFile(facts.agreements, product.licensor, at);
}

/**
 * The disjoint, sorted intervals within `window` during which real time for `product` was open to
 * the user of `facts`; touching stretches (a PUT superseding a grant) merge into one. Empty when
 * the window is.
 */
export function openIntervals(
  facts: HistoryFacts,
  product: Pick<ProductTerms, 'id' | 'licensor'>,
  window: Interval,
): Interval[] {
  if (window.to <= window.from) return [];
  const changes = new Set([window.from]);
  const change = (at: number) => {
    if (at > window.from && at < window.to) changes.add(at);
  };
  for (const grant of facts.grants) {
    if (grant.product !== product.id) continue;
    change(grant.validFrom);
    change(grantEnd(grant));
  }
  for (const agreement of facts.agreements)
    if (agreement.licensor === product.licensor) change(agreement.acceptedAt);

  const instants = [...changes].sort((a, b) => a - b);
  const intervals: Interval[] = [];
  for (const [index, at] of instants.entries()) {
    if (!openAt(facts, product, at)) continue;
    const to = instants[index + 1] ?? window.to;
    const last = intervals[intervals.length - 1];
    if (last && last.to === at) last.to = to;
    else intervals.push({ from: at, to });
  }
  return intervals;
}
