/**
 * A licensor's files as bytes: the summary or the detail, in CSV or JSON, each a pure function of
 * the files so the same month gives byte-identical output (docs/usage-reports.md documents the
 * columns). A licensor takes the two as separate uploads, so each is a file of its own.
 */
import { type CsvCell, csvRecord } from '../platform/csv.js';
import type { LicensorFiles } from './licensor-file.js';
import type { ReportFormat } from './report-format.js';

export type LicensorFileKind = 'summary' | 'detail';

function line(cells: readonly CsvCell[]): string {
  return `${csvRecord(cells)}\n`;
}

export const SUMMARY_COLUMNS = ['product_code', 'category', 'subscribers', 'queries', 'fee'] as const;

export const DETAIL_COLUMNS = [
  'product_code',
  'user',
  'device',
  'name',
  'address',
  'category',
  'ability_first',
  'ability_last',
  'accessed',
  'devices',
  'queries',
  'fee',
] as const;

/** A header section (licensor, file, month, catalog version), an empty line, then the table. */
export function licensorCsv(files: LicensorFiles, kind: LicensorFileKind): string {
  let out =
    line(['licensor', files.licensor]) +
    line(['file', kind]) +
    line(['month', files.month]) +
    line(['catalog_version', files.catalogVersion]);
  if (kind === 'summary') {
    out += `\n${line(SUMMARY_COLUMNS)}`;
    for (const r of files.rows) out += line([r.productCode, r.category, r.subscribers, r.queries, r.fee]);
    return out;
  }
  out += `\n${line(DETAIL_COLUMNS)}`;
  for (const d of files.details) {
    out += line([
      d.productCode,
      d.user,
      d.device,
      d.name,
      d.address,
      d.category,
      d.abilityFirst,
      d.abilityLast,
      d.accessed ? 'yes' : 'no',
      d.devices,
      d.queries,
      d.fee,
    ]);
  }
  return out;
}

/** Two-space indented, one trailing newline: the summary's `rows`, or the detail's `details`. */
export function licensorJson(files: LicensorFiles, kind: LicensorFileKind): string {
  const head = {
    licensor: files.licensor,
    file: kind,
    month: files.month,
    catalogVersion: files.catalogVersion,
  };
  const body = kind === 'summary' ? { ...head, rows: files.rows } : { ...head, details: files.details };
  return `${JSON.stringify(body, null, 2)}\n`;
}

export function formatLicensorFile(
  files: LicensorFiles,
  kind: LicensorFileKind,
  format: ReportFormat,
): string {
  return format === 'csv' ? licensorCsv(files, kind) : licensorJson(files, kind);
}
