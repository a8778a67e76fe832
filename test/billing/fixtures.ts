import { loadPrices, type Prices } from '../../billing/index.js';
import { type Catalog, loadCatalog } from '../../config/index.js';
import { acceptAgreement, createUser, grant } from '../../entitlements/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';

export const ADMIN: Actor = { type: 'operator', id: 'root', role: 'admin' };
export const FINANCE: Actor = { type: 'operator', id: 'fred', role: 'finance' };

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/**
 * A month of 2026 of its own per test (the database is shared by a file's tests): users are
 * granted real time on its 10th until its end, and it is closed on the 2nd of the next month.
 */
export function scenario(monthIndex: number): {
  month: string;
  grantAt: number;
  end: number;
  closeAt: number;
} {
  const end = Date.UTC(2026, monthIndex + 1, 1);
  return {
    month: `2026-${String(monthIndex + 1).padStart(2, '0')}`,
    grantAt: Date.UTC(2026, monthIndex, 10, 12),
    end,
    closeAt: end + DAY + 9 * HOUR,
  };
}

export function billingConfig(): { catalog: Catalog; prices: Prices } {
  const catalog = loadCatalog();
  return { catalog, prices: loadPrices(catalog) };
}

/** A user holding real-time grants (with the licensor's agreement) for `products` over [at, until). */
export async function entitledUser(
  db: Db,
  catalog: Catalog,
  id: string,
  products: readonly string[],
  at: number,
  until: number,
): Promise<void> {
  await db.transaction(async (tx) => {
    const ctx = { actor: ADMIN, tx, at, catalog };
    await createUser({ ctx, input: { id } });
    for (const product of products) {
      await acceptAgreement({ ctx, input: { userId: id, product } });
      await grant({ ctx, input: { userId: id, product, validTo: until } });
    }
  });
}
