/**
 * Unused entitlements, for finance: who had real time open to them at some instant of a month
 * (the entitlement history) yet never received any that month (the ledger), and what each of them
 * cost — the exchange fee the usage report counts for them, which a timely revocation would have
 * saved. On the `accessed` basis an unused entitlement costs nothing, and is listed with a zero
 * fee all the same: it is still real time nobody uses. Derived from the one report, never counted
 * apart, so the fees are the report's to the micro-dollar.
 */
import {
  type Catalog,
  formatMicros,
  type Micros,
  type Product,
  parseMicros,
  type ReportCategory,
} from '../config/index.js';
import type { Queryable } from '../platform/db/index.js';
import { parseUsageMonth } from './month.js';
import { compareText, readMonthlyUsage } from './monthly.js';
import { buildUsageReport, ReportError } from './report.js';

export interface UnusedEntitlement {
  product: string;
  category: ReportCategory;
  user: string;
  basis: Product['basis'];
  /** First and last instant (ISO-8601 UTC, inclusive) real time was open to the user in the month. */
  entitledFirst: string;
  entitledLast: string;
  /** What the report counts the user at for this product and category: dollars, six decimals. */
  fee: string;
}

export interface UnusedReport {
  month: string;
  catalogVersion: string;
  /** By product, category, user. */
  rows: UnusedEntitlement[];
  /** The sum of the fees. */
  total: string;
}

function pairKey(user: string, product: string, category: string): string {
  return `${user}\u0000${product}\u0000${category}`;
}

/**
 * The unused entitlements of `month` (`YYYY-MM`), read through `q`. Throws a `ReportError` for a
 * malformed month or one no fee schedule covers.
 */
export async function readUnusedEntitlements(
  q: Queryable,
  catalog: Catalog,
  month: string,
): Promise<UnusedReport> {
  const bounds = parseUsageMonth(month);
  if (!bounds) throw new ReportError(`month must look like YYYY-MM, got ${JSON.stringify(month)}`);
  const usage = await readMonthlyUsage(q, catalog, bounds);
  const report = buildUsageReport(catalog, bounds, usage, { detail: true });
  const fees = new Map<string, Micros>();
  for (const d of report.details ?? []) {
    const key = pairKey(d.user, d.product, d.category);
    fees.set(key, (fees.get(key) ?? 0) + parseMicros(d.fee));
  }
  const rows: UnusedEntitlement[] = [];
  let total = 0;
  for (const monthly of usage) {
    const first = monthly.open[0];
    const last = monthly.open[monthly.open.length - 1];
    if (!monthly.entitled || monthly.accessed || !first || !last) continue;
    const fee = fees.get(pairKey(monthly.userId, monthly.product, monthly.category)) ?? 0;
    total += fee;
    rows.push({
      product: monthly.product,
      category: monthly.category,
      user: monthly.userId,
      basis: catalog.products.get(monthly.product)!.basis,
      entitledFirst: new Date(first.from).toISOString(),
      entitledLast: new Date(last.to - 1).toISOString(),
      fee: formatMicros(fee),
    });
  }
  rows.sort(
    (a, b) =>
      compareText(a.product, b.product) || compareText(a.category, b.category) || compareText(a.user, b.user),
  );
  return { month, catalogVersion: catalog.version, rows, total: formatMicros(total) };
}
