/**
 * A licensor's own usage files (docs/usage-reports.md, "Licensor files"): the month's usage report
 * cut down to one licensor's products, named by the licensor's product codes (`licensorCode` in
 * the catalog). The **summary** has one row per product code and category (subscribers, queries,
 * fee), the **detail** one line per counted subscriber with what a licensor's detailed report asks
 * for: who (id, name, postal address), the category, the first and last instant they were able to
 * receive real time, whether they did, their devices, queries and fee.
 *
 * Both are derived from the one report (`buildUsageReport`), never counted again, so a licensor
 * file can never disagree with the usage report it comes from. Pure: the same report, contacts
 * and catalog give the same files.
 */
import type { Catalog, ReportCategory } from '../config/index.js';
import type { Interval } from '../entitlements/index.js';
import { compareText, type MonthlyUsage } from './monthly.js';
import type { UsageReport } from './report.js';

export interface LicensorSummaryRow {
  /** The licensor's code for the product; the catalog product id when the catalog maps none. */
  productCode: string;
  category: ReportCategory;
  subscribers: number;
  queries: number;
  /** Dollars with six decimals. */
  fee: string;
}

export interface LicensorDetailRow {
  productCode: string;
  user: string;
  /** The device, for `device` products; null otherwise. */
  device: string | null;
  name: string | null;
  address: string | null;
  category: ReportCategory;
  /**
   * First and last instant (ISO-8601 UTC, both inclusive) in the month at which the subscriber
   * could receive real time: while it was open to them per the entitlement history, or while the
   * ledger shows them receiving it (usage outranks permission).
   */
  abilityFirst: string | null;
  abilityLast: string | null;
  accessed: boolean;
  devices: number;
  queries: number;
  fee: string;
}

/** Both files of one licensor for one month: the summary and the detail it must add up to. */
export interface LicensorFiles {
  licensor: string;
  month: string;
  catalogVersion: string;
  rows: LicensorSummaryRow[];
  details: LicensorDetailRow[];
}

/** The contact a detail line names a subscriber by (entitlements' `userContacts`). */
export interface SubscriberContact {
  name: string | null;
  address: string | null;
}

function key(user: string, product: string, category: string): string {
  return `${user}\u0000${product}\u0000${category}`;
}

function minInstant(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function maxInstant(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function parsed(iso: string | null): number | null {
  return iso === null ? null : Date.parse(iso);
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

/**
 * The licensor's files from `report` (built with its detail) and the monthly usage it was built
 * from. Rows in code-point order of product code, then category; detail lines of product code,
 * category, user, device.
 */
export function buildLicensorFiles(
  catalog: Catalog,
  licensor: string,
  report: UsageReport,
  usage: readonly MonthlyUsage[],
  contacts: ReadonlyMap<string, SubscriberContact>,
): LicensorFiles {
  if (!report.details) throw new Error('a licensor file is built from a report with its detail');
  const codes = new Map<string, string>();
  for (const product of catalog.products.values())
    if (product.licensor === licensor) codes.set(product.id, product.licensorCode ?? product.id);

  const open = new Map<string, readonly Interval[]>();
  for (const monthly of usage)
    if (codes.has(monthly.product))
      open.set(key(monthly.userId, monthly.product, monthly.category), monthly.open);

  const rows: LicensorSummaryRow[] = report.rows
    .filter((row) => codes.has(row.product))
    .map((row) => ({
      productCode: codes.get(row.product)!,
      category: row.category,
      subscribers: row.subscribers,
      queries: row.queries,
      fee: row.fee,
    }))
    .sort((a, b) => compareText(a.productCode, b.productCode) || compareText(a.category, b.category));

  const details: LicensorDetailRow[] = report.details
    .filter((detail) => codes.has(detail.product))
    .map((detail) => {
      const intervals = open.get(key(detail.user, detail.product, detail.category)) ?? [];
      const first = intervals[0];
      const last = intervals[intervals.length - 1];
      const contact = contacts.get(detail.user);
      return {
        productCode: codes.get(detail.product)!,
        user: detail.user,
        device: detail.device,
        name: contact?.name ?? null,
        address: contact?.address ?? null,
        category: detail.category,
        abilityFirst: iso(minInstant(first?.from ?? null, parsed(detail.firstAccess))),
        // Intervals end exclusively: their last instant is the millisecond before.
        abilityLast: iso(maxInstant(last ? last.to - 1 : null, parsed(detail.lastAccess))),
        accessed: detail.accessed,
        devices: detail.devices,
        queries: detail.queries,
        fee: detail.fee,
      };
    })
    .sort(
      (a, b) =>
        compareText(a.productCode, b.productCode) ||
        compareText(a.category, b.category) ||
        compareText(a.user, b.user) ||
        compareText(a.device ?? '', b.device ?? ''),
    );

  return { licensor, month: report.month, catalogVersion: report.catalogVersion, rows, details };
}
