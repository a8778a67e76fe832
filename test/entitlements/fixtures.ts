import { readFileSync } from 'node:fs';
import { type Catalog, DEFAULT_CATALOG_PATH, parseCatalog } from '../../config/index.js';
import type { ProductTerms, UserSnapshot } from '../../entitlements/index.js';
import type { Actor } from '../../platform/actor.js';

/** The default catalog, except that UTP is not offered delayed, so refusals can be seen too. */
export function testCatalog(): Catalog {
  const data = JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8')) as {
    products: Array<{ id: string; delayedAllowed: boolean }>;
  };
  for (const product of data.products) if (product.id === 'UTP') product.delayedAllowed = false;
  return parseCatalog(data, 'test catalog');
}

export const ADMIN: Actor = { type: 'operator', id: 'root', role: 'admin' };
export const COMPLIANCE: Actor = { type: 'operator', id: 'cathy', role: 'compliance' };
export const FINANCE: Actor = { type: 'operator', id: 'fred', role: 'finance' };
export const SUPPORT: Actor = { type: 'operator', id: 'sam', role: 'support' };

export const T0 = Date.UTC(2026, 9, 3, 14, 0, 0);
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export const CTA_A: ProductTerms = {
  id: 'CTA_A',
  licensor: 'CTA',
  agreementVersion: '2024-01',
  delayedAllowed: true,
};
export const NO_DELAY: ProductTerms = {
  id: 'UTP',
  licensor: 'UTP',
  agreementVersion: '2024-01',
  delayedAllowed: false,
};

/** A user entitled to CTA_A in real time at T0, with every condition met; override to break one. */
export function entitledUser(overrides: Partial<UserSnapshot> = {}): UserSnapshot {
  return {
    id: 'u1',
    status: 'active',
    delinquent: false,
    sessionLimit: 2,
    attestations: [],
    agreements: [
      { licensor: 'CTA', version: '2024-01', acceptedAt: T0 - DAY },
      { licensor: 'UTP', version: '2024-01', acceptedAt: T0 - DAY },
    ],
    grants: [
      { product: 'CTA_A', validFrom: T0 - DAY, validTo: null, revokedAt: null },
      { product: 'UTP', validFrom: T0 - DAY, validTo: null, revokedAt: null },
    ],
    ...overrides,
  };
}
