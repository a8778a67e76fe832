/**
 * The `--month` and `--format` options every month-based command takes (report, reconcile, audit
 * pack), checked in one place so each says the same thing about the same mistake.
 */
import { parseUsageMonth, REPORT_FORMATS, type ReportFormat } from '../../usage/index.js';
import { CliError } from './command.js';

type Values = Record<string, string | boolean | undefined>;

/** `--month YYYY-MM`, required; `command` names the help to see (`report`, `reconcile`, …). */
export function monthOption(values: Values, command: string): string {
  const month = values.month;
  if (typeof month !== 'string')
    throw new CliError(`--month YYYY-MM is required (see mdhub ${command} --help)`, 2);
  return checkedMonth(month);
}

/** `--month YYYY-MM` when given; undefined when not. */
export function optionalMonthOption(values: Values): string | undefined {
  const month = values.month;
  return typeof month === 'string' ? checkedMonth(month) : undefined;
}

function checkedMonth(month: string): string {
  if (!parseUsageMonth(month)) throw new CliError(`--month must be written YYYY-MM, got '${month}'`, 2);
  return month;
}

/** `--format csv|json`, default csv. */
export function formatOption(values: Values): ReportFormat {
  const format = (values.format ?? 'csv') as ReportFormat;
  if (!REPORT_FORMATS.includes(format))
    throw new CliError(`--format must be csv or json, got '${format}'`, 2);
  return format;
}
