import { rename, writeFile } from 'node:fs/promises';
import {
  generateUsageReport,
  parseUsageMonth,
  REPORT_FORMATS,
  ReportError,
  type ReportFormat,
} from '../../audit/index.js';
import { openConfiguredDb } from '../db/index.js';
import { CliError, type Command } from './command.js';
import { loadEnvironment } from './environment.js';

export const reportCommand: Command = {
  name: 'report',
  summary: 'generate the monthly exchange usage report',
  options: {
    month: { type: 'string' },
    format: { type: 'string' },
    detail: { type: 'boolean' },
    out: { type: 'string' },
  },
  help: `Usage: mdhub report usage --month YYYY-MM [--format csv|json] [--detail] [--out FILE]

Generates the exchange usage report for a UTC calendar month from the usage ledger and the
entitlement history: per product and category, the subscribers (users, or devices for
device-counted products, on the product's entitled or accessed basis), their devices, real-time
queries and the fee under the schedule in force on the 1st. --detail adds one row per
subscriber. The same ledger always gives the same bytes; the report's SHA-256 is written to the
audit log and printed on stderr. Default format csv; without --out the report goes to stdout.
Progress is shown on stderr. See docs/usage-reports.md.`,

  async run(values, positionals) {
    const [name, ...extra] = positionals;
    if (name !== 'usage') throw new CliError("report needs 'usage' (see mdhub report --help)", 2);
    if (extra.length > 0)
      throw new CliError(`unexpected argument '${extra[0]}' (see mdhub report --help)`, 2);
    const month = values.month;
    if (typeof month !== 'string')
      throw new CliError('--month YYYY-MM is required (see mdhub report --help)', 2);
    if (!parseUsageMonth(month)) throw new CliError(`--month must be written YYYY-MM, got '${month}'`, 2);
    const format = (values.format ?? 'csv') as ReportFormat;
    if (!REPORT_FORMATS.includes(format))
      throw new CliError(`--format must be csv or json, got '${format}'`, 2);
    const out = values.out as string | undefined;

    const { env, catalog, logger } = loadEnvironment();
    const db = await openConfiguredDb(env, { logger });
    const started = Date.now();
    const progress = (step: string) =>
      process.stderr.write(`report ${month}: ${step} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    try {
      const { rows } = await db.query<{ table: string | null }>(
        "select to_regclass('usage_daily')::text as table",
      );
      if (!rows[0]?.table)
        throw new CliError("the database has no usage ledger yet; run 'mdhub migrate' first");
      const generated = await generateUsageReport(db, catalog, month, {
        format,
        detail: values.detail === true,
        actor: { type: 'system', id: 'cli' },
        onProgress: progress,
      });
      if (out === undefined) {
        process.stdout.write(generated.body);
      } else {
        // Written beside the target and renamed, so a reader never sees half a report.
        const partial = `${out}.partial-${process.pid}`;
        await writeFile(partial, generated.body, 'utf8');
        await rename(partial, out);
      }
      progress(
        `done: sha256 ${generated.sha256}, audit record ${generated.auditSeq}${out ? `, written to ${out}` : ''}`,
      );
      return 0;
    } catch (error) {
      if (error instanceof ReportError) throw new CliError(error.message);
      throw error;
    } finally {
      await db.close();
    }
  },
};
