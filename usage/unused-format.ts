/**
 * The unused-entitlements list as bytes: CSV (a header section, the table, then the total) or
 * JSON, pure functions of the list.
 */
import { type CsvCell, csvRecord } from '../platform/csv.js';
import type { ReportFormat } from './report-format.js';
import type { UnusedReport } from './unused.js';

function line(cells: readonly CsvCell[]): string {
  return `${csvRecord(cells)}\n`;
}

export function unusedCsv(report: UnusedReport): string {
  let out = line(['month', report.month]) + line(['catalog_version', report.catalogVersion]);
  out += `\n${line(['product', 'category', 'user', 'basis', 'entitled_first', 'entitled_last', 'fee'])}`;
  for (const r of report.rows)
    out += line([r.product, r.category, r.user, r.basis, r.entitledFirst, r.entitledLast, r.fee]);
  return `${out}\n${line(['total', report.total])}`;
}

export function formatUnused(report: UnusedReport, format: ReportFormat): string {
  return format === 'csv' ? unusedCsv(report) : `${JSON.stringify(report, null, 2)}\n`;
}
