/**
 * What a filing covers: a month that is over, and every licensor (null) or one licensor's
 * products. How the verbs read them from their input, name them in messages, and refuse them.
 */
import type { Catalog } from '../config/index.js';
import { DomainError } from '../platform/errors.js';
import { parseUsageMonth, type UsageMonth } from './month.js';

/** The month, or an `invalid_month` error. */
export function filingMonth(month: string): UsageMonth {
  const bounds = parseUsageMonth(month);
  if (!bounds)
    throw new DomainError(
      'invalid',
      'invalid_month',
      `month must be written YYYY-MM, got ${JSON.stringify(month)}`,
    );
  return bounds;
}

/** The licensor scope, or an `unknown_licensor` error naming the catalog's licensors. */
export function filingLicensor(catalog: Catalog, licensor: string | null | undefined): string | null {
  if (licensor === undefined || licensor === null) return null;
  if (!catalog.licensors.has(licensor)) {
    const known = [...catalog.licensors.keys()].sort().join(', ');
    throw new DomainError(
      'invalid',
      'unknown_licensor',
      `licensor ${JSON.stringify(licensor)} is not in catalog ${catalog.version} (${known})`,
    );
  }
  return licensor;
}

/** How a licensor scope is named in messages. */
export function scopeWords(licensor: string | null): string {
  return licensor === null ? 'all licensors' : `licensor ${licensor}`;
}

export function notFiled(month: string, licensor: string | null): DomainError {
  return new DomainError('not_found', 'not_filed', `${month} (${scopeWords(licensor)}) has no filing`);
}

/** The audit subject of a month's reports: generations, filings and amendments alike. */
export function reportSubject(month: string): string {
  return `report:usage:${month}`;
}
