/**
 * The one CSV cell encoder every CSV mdhub writes goes through: RFC 4180 quoting where a field
 * needs it, and no cell a spreadsheet would run as a formula (OWASP "CSV Injection"). Reports
 * carry text users chose (ids, device ids, names); a user id `=HYPERLINK(…)` must reach the
 * exchange's or finance's spreadsheet as text.
 */

export type CsvCell = string | number | boolean | null;

/** What spreadsheets treat as the start of a formula (or of one hidden behind a control character). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A plain decimal number (`-1.500000`, `42`): a spreadsheet reads it as that number, never as a
 * formula, so it stays as it is. This is the rule for money and counts, which mdhub formats
 * itself; it holds for any cell, so a user's text that happens to be `-5` is harmless too.
 */
const PLAIN_NUMBER = /^-?\d+(?:\.\d+)?$/;

/**
 * One field: null is empty; text starting with `=`, `+`, `-`, `@`, a tab or a carriage return
 * (and not a plain number) is prefixed with `'` and quoted, so it shows as written and never
 * runs; a field with `"`, `,`, CR or LF is quoted with `"` doubled.
 */
export function csvCell(value: CsvCell): string {
  if (value === null) return '';
  const text = String(value);
  if (FORMULA_START.test(text) && !PLAIN_NUMBER.test(text)) return `"'${text.replaceAll('"', '""')}"`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record: the cells encoded and joined with commas, without the line end. */
export function csvRecord(cells: readonly CsvCell[]): string {
  return cells.map(csvCell).join(',');
}
