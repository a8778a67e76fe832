/**
 * The usage report as bytes: JSON or CSV, each a pure function of the report so the same ledger
 * gives byte-identical files. Money is already a fixed six-decimal string; nothing here formats a
 * float or depends on the locale, the time zone or the clock.
 */
import { type CsvCell, csvRecord } from '../platform/csv.js';
import type { FeeText, UsageReport } from './report.js';

export const REPORT_FORMATS = ['csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export const CONTENT_TYPES: Readonly<Record<ReportFormat, string>> = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/json; charset=utf-8',
};

/** Both renderings, as a route that serves either documents its answer. */
export const REPORT_CONTENT_TYPES: readonly string[] = [CONTENT_TYPES.json, CONTENT_TYPES.csv];

/** Two-space indented, keys in the order the report declares them, one trailing newline. */
export function reportJson(report: UsageReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/**
 * The CSV's one header row. A spreadsheet loads the file as one table; `section` says what a row
 * is — `fee_schedule` (a product and category's fee in force), `summary` (a product and category's
 * subscribers, as filed) or `detail` (one subscriber) — and a row leaves the other sections'
 * columns empty. The summary's columns come first, so the filed figures read left to right.
 */
export const CSV_COLUMNS = [
  'section',
  'month',
  'catalog_version',
  'product',
  'category',
  'subscribers',
  'devices',
  'queries',
  'fee',
  'user',
  'device',
  'basis',
  'entitled',
  'accessed',
  'first_access',
  'last_access',
  'unit',
  'effective_from',
  'fee_type',
  'amount',
  'per_query',
  'cap',
  'source',
] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];

/** One row of the table: the named cells in the header's order, the others empty. */
function row(cells: Partial<Record<CsvColumn, CsvCell>>): string {
  return `${csvRecord(CSV_COLUMNS.map((column) => cells[column] ?? null))}\n`;
}

function feeCells(fee: FeeText): Partial<Record<CsvColumn, CsvCell>> {
  return fee.type === 'monthly'
    ? { fee_type: 'monthly', amount: fee.amount }
    : { fee_type: 'per_query', per_query: fee.perQuery, cap: fee.cap };
}

/**
 * The report as one table (`CSV_COLUMNS`): the fee schedules in force (one row per product and
 * category), the summary, then the detail when the report has it; every row names the month and
 * the catalog version. Lines end with `\n`. Files filed before this layout keep their bytes (the
 * evidence verifier knows both layouts; drift compares the JSON renderings).
 */
export function reportCsv(report: UsageReport): string {
  const month = { month: report.month, catalog_version: report.catalogVersion };
  let out = `${csvRecord(CSV_COLUMNS)}\n`;
  for (const schedule of report.feeSchedules) {
    for (const category of ['non_display', 'non_professional', 'professional'] as const) {
      const fee = schedule.fees[category];
      if (fee === undefined) continue;
      out += row({
        section: 'fee_schedule',
        ...month,
        product: schedule.product,
        category,
        unit: schedule.unit,
        basis: schedule.basis,
        effective_from: schedule.effectiveFrom,
        ...feeCells(fee),
        source: schedule.source,
      });
    }
  }
  for (const r of report.rows) {
    out += row({
      section: 'summary',
      ...month,
      product: r.product,
      category: r.category,
      subscribers: r.subscribers,
      devices: r.devices,
      queries: r.queries,
      fee: r.fee,
    });
  }
  for (const d of report.details ?? []) {
    out += row({
      section: 'detail',
      ...month,
      product: d.product,
      category: d.category,
      user: d.user,
      device: d.device,
      basis: d.basis,
      entitled: d.entitled,
      accessed: d.accessed,
      first_access: d.firstAccess,
      last_access: d.lastAccess,
      devices: d.devices,
      queries: d.queries,
      fee: d.fee,
    });
  }
  return out;
}

export function formatReport(report: UsageReport, format: ReportFormat): string {
  return format === 'csv' ? reportCsv(report) : reportJson(report);
}
