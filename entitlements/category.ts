/**
 * Professional or non-professional (DESIGN rule 3): everyone is professional until a
 * non-professional attestation is on file and less than 12 months old; the latest attestation
 * (by the instant it took effect) wins. For a product's month, a user is professional if
 * professional at some instant at which they counted for the product (`categoryWhileCounted`):
 * being professional only while nothing was open to them does not make them professional.
 */
import type { Category } from '../config/index.js';
import type { Interval } from './history.js';
import type { AttestationFact } from './snapshot.js';

export const ATTESTATION_VALID_MONTHS = 12;

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/**
 * The same wall-clock instant `months` UTC calendar months later; a day the target month lacks
 * (29 February, the 31st) becomes its last day, never a day of the month after, so a
 * non-professional status never outlives its year.
 */
export function addUtcMonths(at: number, months: number): number {
  const date = new Date(at);
  const total = date.getUTCFullYear() * 12 + date.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const day = Math.min(date.getUTCDate(), daysInMonth(year, month));
  return Date.UTC(
    year,
    month,
    day,
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    date.getUTCMilliseconds(),
  );
}

/** The first instant a non-professional attestation made at `at` no longer counts. */
export function attestationExpiry(at: number): number {
  return addUtcMonths(at, ATTESTATION_VALID_MONTHS);
}

/** `[start, end)` of a UTC calendar month written `YYYY-MM`. */
export function monthBounds(month: string): { start: number; end: number } {
  const match = MONTH.exec(month);
  if (!match) throw new RangeError(`month must look like YYYY-MM, got ${JSON.stringify(month)}`);
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  return { start: Date.UTC(year, index, 1), end: Date.UTC(year, index + 1, 1) };
}

export function categoryAt(user: { attestations: readonly AttestationFact[] }, at: number): Category {
  let latest: AttestationFact | undefined;
  for (const attestation of user.attestations) if (attestation.at <= at) latest = attestation;
  if (!latest || latest.status === 'professional') return 'professional';
  return at < attestationExpiry(latest.at) ? 'non_professional' : 'professional';
}

/**
 * Whether the user is professional at some instant of `span`. The category only changes at an
 * attestation or an expiry, so checking the span's first instant and every such change inside it
 * covers every instant of it.
 */
function professionalDuring(user: { attestations: readonly AttestationFact[] }, span: Interval): boolean {
  if (span.to <= span.from) return false;
  if (categoryAt(user, span.from) === 'professional') return true;
  for (const attestation of user.attestations) {
    for (const instant of [attestation.at, attestationExpiry(attestation.at)]) {
      if (instant > span.from && instant < span.to && categoryAt(user, instant) === 'professional')
        return true;
    }
  }
  return false;
}

/** Professional if professional at any instant of the UTC month. */
export function categoryForMonth(
  user: { attestations: readonly AttestationFact[] },
  month: string,
): Category {
  const { start, end } = monthBounds(month);
  return professionalDuring(user, { from: start, to: end }) ? 'professional' : 'non_professional';
}

/**
 * The category of a product's month (DESIGN rule 3): professional if professional at some instant
 * of `counted`, the intervals of the month during which the user counted for the product (real
 * time open to them, or received); parts outside the month are ignored. A user who counted at no
 * instant of the month is not a subscriber, and keeps `categoryForMonth`'s answer.
 */
export function categoryWhileCounted(
  user: { attestations: readonly AttestationFact[] },
  month: string,
  counted: readonly Interval[],
): Category {
  const { start, end } = monthBounds(month);
  const spans = counted
    .map((span) => ({ from: Math.max(span.from, start), to: Math.min(span.to, end) }))
    .filter((span) => span.from < span.to);
  if (spans.length === 0) return categoryForMonth(user, month);
  return spans.some((span) => professionalDuring(user, span)) ? 'professional' : 'non_professional';
}
