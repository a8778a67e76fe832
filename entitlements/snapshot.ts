import type { Catalog, Category } from '../config/index.js';

export const ACCOUNT_STATUSES = ['active', 'suspended', 'closed'] as const;
export type AccountStatus = (typeof ACCOUNT_STATUSES)[number];

/** A real-time grant, effective over `[validFrom, min(validTo, revokedAt))`; null means open-ended. */
export interface GrantSpan {
  product: string;
  validFrom: number;
  validTo: number | null;
  revokedAt: number | null;
  /** The plan's delivery rate while this grant is in effect (updates a second per symbol); absent: none. */
  maxUpdatesPerSecond?: number;
}

export interface AttestationFact {
  status: Category;
  /**
   * When the status took effect: its effect date when it was recorded late (a correction), else
   * when it was recorded. The 12 months of a non-professional status run from here.
   */
  at: number;
}

export interface AgreementFact {
  licensor: string;
  version: string;
  acceptedAt: number;
}

/**
 * Everything the decision needs to know about one user, as plain data: what the edge cache holds
 * per user and what `decide` reads. Attestations are in the order they took effect (oldest first).
 */
export interface UserSnapshot {
  id: string;
  status: AccountStatus;
  delinquent: boolean;
  /** Concurrent sessions allowed, the deployment default already applied. */
  sessionLimit: number;
  /** The user's own delivery rate (updates a second per symbol), whatever the product; absent: none. */
  maxUpdatesPerSecond?: number;
  attestations: readonly AttestationFact[];
  agreements: readonly AgreementFact[];
  grants: readonly GrantSpan[];
}

/** What the decision needs to know about one product, resolved from the catalog once. */
export interface ProductTerms {
  id: string;
  licensor: string;
  /** The licensor's current subscriber agreement version: only this one counts. */
  agreementVersion: string;
  delayedAllowed: boolean;
}

/** End of a grant's effect: whichever of its validity end and its revocation comes first. */
export function grantEnd(grant: GrantSpan): number {
  return Math.min(grant.validTo ?? Number.POSITIVE_INFINITY, grant.revokedAt ?? Number.POSITIVE_INFINITY);
}

export function productTerms(catalog: Catalog): Map<string, ProductTerms> {
  const terms = new Map<string, ProductTerms>();
  for (const product of catalog.products.values()) {
    const licensor = catalog.licensors.get(product.licensor);
    if (!licensor)
      throw new Error(`catalog: product ${product.id} names unknown licensor ${product.licensor}`);
    terms.set(product.id, {
      id: product.id,
      licensor: licensor.id,
      agreementVersion: licensor.agreement.version,
      delayedAllowed: product.delayedAllowed,
    });
  }
  return terms;
}
