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

/** Two-space indented, keys in the order the report declares them, one trailing newline. */
export function reportJson(report: UsageReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** One line: the cells through the shared encoder (quoting, formula neutralising). */
function line(cells: readonly CsvCell[]): string {
  return `${csvRecord(cells)}\n`;
}

function feeCells(fee: FeeText): CsvCell[] {
  return fee.type === 'monthly'
    ? ['monthly', fee.amount, null, null]
    : ['per_query', null, fee.perQuery, fee.cap];
}

/**
 * Sections separated by one empty line: the header (month, catalog version), the fee schedules
 * in force (one line per product and category), the summary, then the detail when asked for.
 * Lines end with `\n`.
 */
export function reportCsv(report: UsageReport): string {
  let out = line(['month', report.month]) + line(['catalog_version', report.catalogVersion]);

  out += `\n${line(['product', 'unit', 'basis', 'effective_from', 'category', 'fee_type', 'amount', 'per_query', 'cap', 'source'])}`;
  for (const schedule of report.feeSchedules) {
    for (const category of ['non_display', 'non_professional', 'professional'] as const) {
      const fee = schedule.fees[category];
      if (fee === undefined) continue;
      out += line([
        schedule.product,
        schedule.unit,
        schedule.basis,
        schedule.effectiveFrom,
        category,
        ...feeCells(fee),
        schedule.source,
      ]);
    }
  }

  out += `\n${line(['product', 'category', 'subscribers', 'devices', 'queries', 'fee'])}`;
  for (const row of report.rows) {
    out += line([row.product, row.category, row.subscribers, row.devices, row.queries, row.fee]);
  }

  if (report.details) {
    out += `\n${line([
      'product',
      'category',
      'user',
      'device',
      'basis',
      'entitled',
      'accessed',
      'first_access',
      'last_access',
      'devices',
      'queries',
      'fee',
    ])}`;
    for (const d of report.details) {
      out += line([
        d.product,
        d.category,
        d.user,
        d.device,
        d.basis,
        d.entitled,
        d.accessed,
        d.firstAccess,
        d.lastAccess,
        d.devices,
        d.queries,
        d.fee,
      ]);
    }
  }
  return out;
}

export function formatReport(report: UsageReport, format: ReportFormat): string {
  return format === 'csv' ? reportCsv(report) : reportJson(report);
}
