import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AttestationFact,
  addUtcMonths,
  attestationExpiry,
  categoryAt,
  categoryForMonth,
  categoryWhileCounted,
  type Interval,
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

describe('categoryWhileCounted', () => {
  const month = '2026-10';
  const { start, end } = monthBounds(month);
  const day = (n: number, hour = 0) => Date.UTC(2026, 9, n, hour);
  const restOfMonth = (from: number): Interval => ({ from, to: end });

  it('is non-professional for a new user attested before real time was first open (the issue’s example)', () => {
    // Created on the 2nd (professional by default), attested on the 5th, granted on the 10th.
    const u = user(nonPro(day(5)));
    expect(categoryForMonth(u, month)).toBe('professional');
    expect(categoryWhileCounted(u, month, [restOfMonth(day(10))])).toBe('non_professional');
  });

  it('is professional when real time was open before the attestation', () => {
    expect(categoryWhileCounted(user(nonPro(day(5))), month, [restOfMonth(day(3))])).toBe('professional');
    // Open for one millisecond before the attestation is enough.
    expect(categoryWhileCounted(user(nonPro(day(5))), month, [{ from: day(5) - 1, to: day(6) }])).toBe(
      'professional',
    );
    expect(categoryWhileCounted(user(nonPro(day(5))), month, [{ from: day(5), to: day(6) }])).toBe(
      'non_professional',
    );
  });

  it('ignores professional stretches while nothing was open: after a revocation, before a grant', () => {
    // Non-professional until the 15th, when the year runs out; real time ended on the 10th.
    const lapsing = user(nonPro(Date.UTC(2025, 9, 15)));
    expect(categoryWhileCounted(lapsing, month, [{ from: start, to: day(10) }])).toBe('non_professional');
    expect(categoryWhileCounted(lapsing, month, [{ from: start, to: day(15) }])).toBe('non_professional');
    expect(categoryWhileCounted(lapsing, month, [{ from: start, to: day(15) + 1 }])).toBe('professional');
    // A professional attestation between two non-professional ones, while nothing was open.
    const interrupted = user(nonPro(Date.UTC(2026, 0, 1)), pro(day(10)), nonPro(day(11)));
    expect(
      categoryWhileCounted(interrupted, month, [{ from: start, to: day(10) }, restOfMonth(day(11))]),
    ).toBe('non_professional');
    expect(categoryWhileCounted(interrupted, month, [{ from: day(10, 12), to: day(10, 13) }])).toBe(
      'professional',
    );
  });

  it('counts only the part of each interval inside the month', () => {
    const u = user(nonPro(day(1, 6)));
    expect(categoryWhileCounted(u, month, [{ from: start - 10 * DAY, to: day(2) }])).toBe('professional');
    expect(categoryWhileCounted(u, month, [{ from: start - 10 * DAY, to: start }, restOfMonth(day(2))])).toBe(
      'non_professional',
    );
  });

  it('keeps the month’s category for a user who counted at no instant of it', () => {
    const u = user(nonPro(day(5)));
    expect(categoryWhileCounted(u, month, [])).toBe('professional');
    expect(
      categoryWhileCounted(u, month, [
        { from: end, to: end + DAY },
        { from: day(3), to: day(3) },
      ]),
    ).toBe('professional');
    expect(categoryWhileCounted(user(nonPro(start - DAY)), month, [])).toBe('non_professional');
  });

  const attestations = (granularity: number) =>
    fc
      .array(
        fc.record({
          status: fc.constantFrom('professional' as const, 'non_professional' as const),
          at: fc.integer({ min: start - 400 * DAY, max: end + DAY }).map((at) => at - (at % granularity)),
        }),
        { maxLength: 4 },
      )
      .map((list) => [...list].sort((a, b) => a.at - b.at));
  const intervals = (granularity: number) =>
    fc.array(
      fc
        .record({
          from: fc.integer({ min: start - 5 * DAY, max: end + 5 * DAY }),
          length: fc.integer({ min: 0, max: 20 * DAY }),
        })
        .map(({ from, length }) => {
          const aligned = from - (from % granularity);
          return { from: aligned, to: aligned + length - (length % granularity) };
        }),
      { maxLength: 4 },
    );

  /**
   * The oracle: the category only changes at an attestation or an expiry, and the counted set only
   * at an interval's ends, so `categoryAt` at every such boundary decides every instant.
   */
  function atEveryBoundary(list: AttestationFact[], counted: Interval[]) {
    const u = user(...list);
    const boundaries = [start, end];
    for (const a of list) boundaries.push(a.at, attestationExpiry(a.at));
    for (const i of counted) boundaries.push(i.from, i.to);
    const inMonth = boundaries.filter((b) => b >= start && b < end);
    const isCounted = (b: number) => counted.some((i) => i.from <= b && b < i.to);
    const judged = inMonth.some(isCounted) ? inMonth.filter(isCounted) : inMonth;
    return judged.some((b) => categoryAt(u, b) === 'professional') ? 'professional' : 'non_professional';
  }

  it('agrees with categoryAt evaluated at every change boundary', () => {
    fc.assert(
      fc.property(attestations(1), intervals(1), (list, counted) => {
        expect(categoryWhileCounted(user(...list), month, counted)).toBe(atEveryBoundary(list, counted));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with checking every counted hour of the month', () => {
    fc.assert(
      fc.property(attestations(HOUR), intervals(HOUR), (list, counted) => {
        const u = user(...list);
        const hours: number[] = [];
        for (let at = start; at < end; at += HOUR)
          if (counted.some((i) => i.from <= at && at < i.to)) hours.push(at);
        const expected =
          hours.length === 0
            ? categoryForMonth(u, month)
            : hours.some((at) => categoryAt(u, at) === 'professional')
              ? 'professional'
              : 'non_professional';
        expect(categoryWhileCounted(u, month, counted)).toBe(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('never makes professional a month the user was non-professional throughout', () => {
    fc.assert(
      fc.property(attestations(1), intervals(1), (list, counted) => {
        const u = user(...list);
        if (categoryForMonth(u, month) === 'non_professional')
          expect(categoryWhileCounted(u, month, counted)).toBe('non_professional');
      }),
      { numRuns: 500 },
    );
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
