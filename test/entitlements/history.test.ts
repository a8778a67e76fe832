import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACCOUNT_STATUSES,
  type AgreementFact,
  decide,
  type GrantSpan,
  type Interval,
  openIntervals,
  type ProductTerms,
  type Reason,
  type UserSnapshot,
} from '../../entitlements/index.js';
import { CTA_A, NO_DELAY } from './fixtures.js';

const CTA_B: ProductTerms = { ...CTA_A, id: 'CTA_B' };
const PRODUCTS = [CTA_A, CTA_B, NO_DELAY];
const CURRENT = CTA_A.agreementVersion;

const grant = (
  product: string,
  validFrom: number,
  validTo: number | null,
  revokedAt: number | null = null,
) => ({
  product,
  validFrom,
  validTo,
  revokedAt,
});
const agreement = (licensor: string, acceptedAt: number, version = CURRENT): AgreementFact => ({
  licensor,
  version,
  acceptedAt,
});

describe('openIntervals', () => {
  it('is open only where a grant and the licensor’s agreement overlap', () => {
    const facts = {
      grants: [grant('CTA_A', 10, 50), grant('UTP', 0, null)],
      agreements: [agreement('CTA', 30), agreement('UTP', 70)],
    };
    expect(openIntervals(facts, CTA_A, { from: 0, to: 100 })).toEqual([{ from: 30, to: 50 }]);
    expect(openIntervals(facts, NO_DELAY, { from: 0, to: 100 })).toEqual([{ from: 70, to: 100 }]);
    expect(openIntervals(facts, CTA_B, { from: 0, to: 100 })).toEqual([]);
  });

  it('merges a grant superseded by another at the same instant, and clips to the window', () => {
    const facts = {
      grants: [grant('CTA_A', 10, null, 40), grant('CTA_A', 40, 60), grant('CTA_A', 70, 80)],
      agreements: [agreement('CTA', 0)],
    };
    expect(openIntervals(facts, CTA_A, { from: 20, to: 75 })).toEqual([
      { from: 20, to: 60 },
      { from: 70, to: 75 },
    ]);
  });

  it('counts any version of the licensor’s agreement, and nothing for an empty window', () => {
    const facts = { grants: [grant('CTA_A', 0, null)], agreements: [agreement('CTA', 5, '1999-01')] };
    expect(openIntervals(facts, CTA_A, { from: 0, to: 10 })).toEqual([{ from: 5, to: 10 }]);
    expect(openIntervals(facts, CTA_A, { from: 10, to: 10 })).toEqual([]);
    expect(openIntervals(facts, CTA_A, { from: 10, to: 0 })).toEqual([]);
  });
});

describe('openIntervals against decide() at every instant', () => {
  const instant = fc.integer({ min: 0, max: 40 });
  const grantSpan: fc.Arbitrary<GrantSpan> = fc
    .record({
      product: fc.constantFrom(...PRODUCTS.map((p) => p.id)),
      validFrom: instant,
      length: fc.option(fc.integer({ min: 0, max: 15 })),
      revokedAt: fc.option(instant),
    })
    .map(({ product, validFrom, length, revokedAt }) =>
      grant(product, validFrom, length === null ? null : validFrom + length, revokedAt),
    );
  const agreementFact: fc.Arbitrary<AgreementFact> = fc.record({
    licensor: fc.constantFrom('CTA', 'UTP'),
    version: fc.constantFrom(CURRENT, '2020-01'),
    acceptedAt: instant,
  });
  const user: fc.Arbitrary<UserSnapshot> = fc.record({
    id: fc.constant('u'),
    status: fc.constantFrom(...ACCOUNT_STATUSES),
    delinquent: fc.boolean(),
    sessionLimit: fc.constant(1),
    attestations: fc.constant([]),
    agreements: fc.array(agreementFact, { maxLength: 3 }),
    grants: fc.array(grantSpan, { maxLength: 4 }),
  });
  const window = fc
    .record({ from: fc.integer({ min: -5, max: 45 }), length: fc.integer({ min: -3, max: 50 }) })
    .map(({ from, length }) => ({ from, to: from + length }));

  /** Maximal runs of the instants of `window` at which `open` holds. */
  function runs(window: Interval, open: (at: number) => boolean): Interval[] {
    const intervals: Interval[] = [];
    for (let at = window.from; at < window.to; at++) {
      if (!open(at)) continue;
      const last = intervals[intervals.length - 1];
      if (last && last.to === at) last.to = at + 1;
      else intervals.push({ from: at, to: at + 1 });
    }
    return intervals;
  }

  it('is where decide() gives real time once what has no history is set aside', () => {
    fc.assert(
      fc.property(user, fc.constantFrom(...PRODUCTS), window, (snapshot, product, span) => {
        // Status and delinquency have no history (a closure shows as its grants ending), and any
        // agreement version counts.
        const asCounted: UserSnapshot = {
          ...snapshot,
          status: 'active',
          delinquent: false,
          agreements: snapshot.agreements.map((a) => ({ ...a, version: product.agreementVersion })),
        };
        const expected = runs(span, (at) => decide(asCounted, product, at).mode === 'realtime');
        expect(openIntervals(snapshot, product, span)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('subtracts exactly decide()’s grant and missing-agreement reasons, whatever else holds', () => {
    const subtracted = new Set<Reason>([
      'no_grant',
      'grant_not_started',
      'grant_expired',
      'agreement_missing',
    ]);
    fc.assert(
      fc.property(user, fc.constantFrom(...PRODUCTS), window, (snapshot, product, span) => {
        const expected = runs(span, (at) =>
          decide(snapshot, product, at).reasons.every((reason) => !subtracted.has(reason)),
        );
        expect(openIntervals(snapshot, product, span)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});
