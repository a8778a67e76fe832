/**
 * Professional or non-professional (DESIGN rule 3): everyone is professional until a
 * non-professional attestation is on file and less than 12 months old; the latest attestation
 * wins. For a month, professional at any instant makes the whole month professional.
 */
import type { Category } from '../config/index.js';
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
 * The category only changes at an attestation or an expiry, so checking the month's first
 * instant and every such change inside the month covers every instant of it.
 */
export function categoryForMonth(
  user: { attestations: readonly AttestationFact[] },
  month: string,
): Category {
  const { start, end } = monthBounds(month);
  const instants = [start];
  for (const attestation of user.attestations) {
    for (const instant of [attestation.at, attestationExpiry(attestation.at)]) {
      if (instant > start && instant < end) instants.push(instant);
    }
  }
  return instants.some((instant) => categoryAt(user, instant) === 'professional')
    ? 'professional'
    : 'non_professional';
}
