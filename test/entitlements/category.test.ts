import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AttestationFact,
  addUtcMonths,
  attestationExpiry,
  categoryAt,
  categoryForMonth,
  monthBounds,
  nextTransition,
} from '../../entitlements/index.js';
import { DAY, entitledUser, HOUR, T0 } from './fixtures.js';

const nonPro = (at: number): AttestationFact => ({ status: 'non_professional', at });
const pro = (at: number): AttestationFact => ({ status: 'professional', at });
const user = (...attestations: AttestationFact[]) => ({ attestations });

describe('categoryAt', () => {
  it('is professional with no attestation on file', () => {
    expect(categoryAt(user(), T0)).toBe('professional');
  });

  it('is non-professional from the attestation on, for 12 calendar months', () => {
    const at = Date.UTC(2025, 2, 15, 12);
    const u = user(nonPro(at));
    expect(categoryAt(u, at - 1)).toBe('professional');
    expect(categoryAt(u, at)).toBe('non_professional');
    expect(categoryAt(u, Date.UTC(2026, 2, 15, 12) - 1)).toBe('non_professional');
    expect(categoryAt(u, Date.UTC(2026, 2, 15, 12))).toBe('professional');
  });

  it('lets the latest attestation win, either way', () => {
    expect(categoryAt(user(nonPro(T0 - DAY), pro(T0 - HOUR)), T0)).toBe('professional');
    expect(categoryAt(user(pro(T0 - DAY), nonPro(T0 - HOUR)), T0)).toBe('non_professional');
  });

  it('lets a fresh non-professional attestation renew the year', () => {
    const first = Date.UTC(2025, 0, 10);
    const renewal = Date.UTC(2025, 11, 20);
    const u = user(nonPro(first), nonPro(renewal));
    expect(categoryAt(u, Date.UTC(2026, 0, 15))).toBe('non_professional');
    expect(categoryAt(u, Date.UTC(2026, 11, 20))).toBe('professional');
  });
});

describe('addUtcMonths', () => {
  it('keeps the wall-clock time and clamps a missing day to the end of the month', () => {
    expect(addUtcMonths(Date.UTC(2024, 1, 29, 8, 30), 12)).toBe(Date.UTC(2025, 1, 28, 8, 30));
    expect(addUtcMonths(Date.UTC(2025, 0, 31), 1)).toBe(Date.UTC(2025, 1, 28));
    expect(attestationExpiry(Date.UTC(2025, 6, 4, 23, 59, 59, 999))).toBe(
      Date.UTC(2026, 6, 4, 23, 59, 59, 999),
    );
  });

  it('never lets a non-professional year run past the same date a year later', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2100, 0, 1) }), (at) => {
        const expiry = attestationExpiry(at);
        expect(expiry).toBeGreaterThan(at + 364 * DAY);
        expect(expiry).toBeLessThanOrEqual(at + 366 * DAY);
      }),
    );
  });
});

describe('categoryForMonth', () => {
  it('is professional with no attestation', () => {
    expect(categoryForMonth(user(), '2026-10')).toBe('professional');
  });

  it('is non-professional when covered for the whole month', () => {
    expect(categoryForMonth(user(nonPro(Date.UTC(2026, 0, 1))), '2026-10')).toBe('non_professional');
  });

  it('is professional when the non-professional attestation expires mid-month', () => {
    const u = user(nonPro(Date.UTC(2025, 9, 17)));
    expect(categoryForMonth(u, '2026-09')).toBe('non_professional');
    expect(categoryForMonth(u, '2026-10')).toBe('professional');
  });

  it('is professional when the attestation arrives mid-month (no attestation on file before it)', () => {
    const u = user(nonPro(Date.UTC(2026, 9, 2)));
    expect(categoryForMonth(u, '2026-10')).toBe('professional');
    expect(categoryForMonth(u, '2026-11')).toBe('non_professional');
  });

  it('counts an attestation made at the first instant of the month for the whole month', () => {
    expect(categoryForMonth(user(nonPro(Date.UTC(2026, 9, 1))), '2026-10')).toBe('non_professional');
  });

  it('is professional when a professional attestation interrupts the month', () => {
    const u = user(nonPro(Date.UTC(2026, 0, 1)), pro(Date.UTC(2026, 9, 10)), nonPro(Date.UTC(2026, 9, 11)));
    expect(categoryForMonth(u, '2026-10')).toBe('professional');
  });

  it('agrees with checking every hour of the month', () => {
    const month = '2026-10';
    const { start, end } = monthBounds(month);
    const attestation = fc.record({
      status: fc.constantFrom('professional' as const, 'non_professional' as const),
      at: fc.integer({ min: start - 400 * DAY, max: end }).map((at) => at - (at % HOUR)),
    });
    fc.assert(
      fc.property(fc.array(attestation, { maxLength: 4 }), (list) => {
        const u = user(...[...list].sort((a, b) => a.at - b.at));
        let professional = false;
        for (let at = start; at < end; at += HOUR)
          if (categoryAt(u, at) === 'professional') professional = true;
        expect(categoryForMonth(u, month)).toBe(professional ? 'professional' : 'non_professional');
      }),
      { numRuns: 60 },
    );
  });

  it('rejects a malformed month', () => {
    expect(() => categoryForMonth(user(), '2026-13')).toThrow(/YYYY-MM/);
  });
});

describe('nextTransition', () => {
  it('is the earliest future grant boundary, agreement or attestation expiry', () => {
    const u = entitledUser({
      grants: [{ product: 'CTA_A', validFrom: T0 - DAY, validTo: T0 + 2 * HOUR, revokedAt: null }],
      attestations: [nonPro(T0 - 365 * DAY + HOUR)],
    });
    expect(attestationExpiry(T0 - 365 * DAY + HOUR)).toBe(T0 + HOUR);
    expect(nextTransition(u, T0)).toBe(T0 + HOUR);
    expect(nextTransition(u, T0 + HOUR)).toBe(T0 + 2 * HOUR);
    expect(nextTransition(u, T0 + 2 * HOUR)).toBeUndefined();
  });

  it('is undefined when nothing is scheduled', () => {
    expect(nextTransition(entitledUser(), T0)).toBeUndefined();
  });
});
