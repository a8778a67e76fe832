/**
 * Billing's month close and reconciliation read the category the exchange report gives (DESIGN
 * rule 3, through `readMonthlyUsage`): a new retail user attested before real time was first open
 * to them is billed at the non-professional price, and a late-recorded attestation is billed by
 * its effect date.
 */
import { expect, it } from 'vitest';
import { billableUsage, closeBillingMonth, parseBillingMonth } from '../../billing/index.js';
import { acceptAgreement, attest, createUser, grant } from '../../entitlements/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { forEachDb } from '../helpers/db.js';
import { ADMIN, billingConfig, DAY, entitledUser, scenario } from './fixtures.js';

const { catalog, prices } = billingConfig();
const COMPLIANCE: Actor = { type: 'operator', id: 'cathy', role: 'compliance' };

async function nonProfessional(db: Db, userId: string, at: number, effectiveFrom?: number): Promise<void> {
  await db.transaction((tx) =>
    attest({
      ctx: { actor: COMPLIANCE, tx, at },
      input: {
        userId,
        status: 'non_professional',
        ...(effectiveFrom === undefined ? {} : { effectiveFrom, reason: 'questionnaire filed late' }),
      },
    }),
  );
}

forEachDb((_engine, getDb) => {
  it('bills a user attested before their grant, or by a late attestation’s effect date, as non-professional', async () => {
    const db = getDb();
    const s = scenario(4);
    const monthStart = Date.UTC(2026, 4, 1);
    // Created on the 1st (professional by default), attested on the 5th, granted on the 10th.
    await db.transaction((tx) =>
      createUser({ ctx: { actor: ADMIN, tx, at: monthStart }, input: { id: 'retail' } }),
    );
    await nonProfessional(db, 'retail', monthStart + 4 * DAY);
    // Created and granted on the 10th; attested on the 20th, effective from the 10th: a correction.
    await entitledUser(db, catalog, 'filed-late', ['CTA_A'], s.grantAt, s.end);
    await nonProfessional(db, 'filed-late', s.grantAt + 10 * DAY, s.grantAt);
    // Granted from the 10th, attested on the 20th: professional while entitled.
    await entitledUser(db, catalog, 'pro', ['CTA_A'], s.grantAt, s.end);
    await nonProfessional(db, 'pro', s.grantAt + 10 * DAY);
    await db.transaction(async (tx) => {
      const ctx = { actor: ADMIN, tx, at: s.grantAt, catalog };
      await acceptAgreement({ ctx, input: { userId: 'retail', product: 'CTA_A' } });
      await grant({ ctx, input: { userId: 'retail', product: 'CTA_A', validTo: s.end } });
    });

    const billables = await billableUsage(db, catalog, prices, parseBillingMonth(s.month)!);
    expect(billables.map((b) => [b.userId, b.product, b.category])).toEqual([
      ['filed-late', 'CTA_A', 'non_professional'],
      ['pro', 'CTA_A', 'professional'],
      ['retail', 'CTA_A', 'non_professional'],
    ]);
    await closeBillingMonth(db, { catalog, prices, month: s.month, at: s.closeAt });
    const { rows } = await db.query<{ user_id: string; category: string }>(
      'select user_id, category from billing_outbox where month = $1 order by user_id',
      [s.month],
    );
    expect(rows).toEqual([
      { user_id: 'filed-late', category: 'non_professional' },
      { user_id: 'pro', category: 'professional' },
      { user_id: 'retail', category: 'non_professional' },
    ]);
  });
});
