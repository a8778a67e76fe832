/**
 * What a filing holds: the month's usage report, for every licensor or restricted to one
 * licensor's products, in the four renderings `report-format.ts` makes (JSON and CSV, summary
 * and detail), each with its SHA-256. Regenerating it from the ledger and the entitlement history
 * gives the same bytes until a late event or a correction changes the month, which is how a
 * filing is compared with the live report.
 */
import { createHash } from 'node:crypto';
import type { Catalog } from '../config/index.js';
import type { Queryable } from '../platform/db/index.js';
import type { UsageMonth } from './month.js';
import { readMonthlyUsage } from './monthly.js';
import { buildUsageReport, type UsageReport } from './report.js';
import { formatReport, type ReportFormat } from './report-format.js';

/** One rendering of a filed report, as listed (the bytes themselves stay in the table). */
export interface FilingFile {
  format: ReportFormat;
  detail: boolean;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
  bytes: number;
}

export interface RenderedFile extends FilingFile {
  body: Buffer;
}

/** The four renderings, in the order they are listed everywhere. */
export const FILING_FILES: ReadonlyArray<Pick<FilingFile, 'format' | 'detail'>> = [
  { format: 'json', detail: false },
  { format: 'json', detail: true },
  { format: 'csv', detail: false },
  { format: 'csv', detail: true },
];

/** A filing's report and its files; `report` always has the detail. */
export interface FilingContent {
  report: UsageReport;
  files: RenderedFile[];
}

/**
 * The report restricted to one licensor's products (null: all of them), in the same shape: its
 * fee schedules, rows and detail rows for those products only.
 */
export function scopeReport(catalog: Catalog, report: UsageReport, licensor: string | null): UsageReport {
  if (licensor === null) return report;
  const ours = (row: { product: string }) => catalog.products.get(row.product)?.licensor === licensor;
  const scoped: UsageReport = {
    month: report.month,
    catalogVersion: report.catalogVersion,
    feeSchedules: report.feeSchedules.filter(ours),
    rows: report.rows.filter(ours),
  };
  if (report.details) scoped.details = report.details.filter(ours);
  return scoped;
}

/** The four files of a report built with its detail: the summary ones are the same report without it. */
export function renderFiles(report: UsageReport): RenderedFile[] {
  const { details: _, ...summary } = report;
  return FILING_FILES.map(({ format, detail }) => {
    const body = Buffer.from(formatReport(detail ? report : summary, format), 'utf8');
    const sha256 = createHash('sha256').update(body).digest('hex');
    return { format, detail, body, sha256, bytes: body.length };
  });
}

/**
 * Whether two sets of files hold the same report: their JSON renderings byte for byte (by their
 * hashes). The CSV files render the same report, so they agree whenever the JSON does — and a
 * month filed under an earlier CSV layout does not drift when only the layout changed.
 */
export function sameFiles(a: readonly FilingFile[], b: readonly FilingFile[]): boolean {
  const key = (f: FilingFile) => `${f.format}:${f.detail}:${f.sha256}`;
  const json = (files: readonly FilingFile[]) => files.filter((f) => f.format === 'json');
  const theirs = new Set(json(b).map(key));
  return json(a).length === theirs.size && json(a).every((f) => theirs.has(key(f)));
}

/**
 * The month's report regenerated now for each licensor scope asked (null: every licensor), from
 * one read of the ledger. Throws a `ReportError` when no fee schedule covers the month.
 */
export async function regenerate(
  q: Queryable,
  catalog: Catalog,
  month: UsageMonth,
  licensors: ReadonlyArray<string | null>,
): Promise<Map<string | null, FilingContent>> {
  const usage = await readMonthlyUsage(q, catalog, month);
  const whole = buildUsageReport(catalog, month, usage, { detail: true });
  const contents = new Map<string | null, FilingContent>();
  for (const licensor of licensors) {
    if (contents.has(licensor)) continue;
    const report = scopeReport(catalog, whole, licensor);
    contents.set(licensor, { report, files: renderFiles(report) });
  }
  return contents;
}
