import { formatUnused, readUnusedEntitlements, type UnusedReport } from '../../usage/index.js';
import { CliError } from './command.js';
import { loadEnvironment } from './environment.js';
import { formatOption, monthOption } from './month-args.js';
import { writeOutput } from './output.js';
import { reachDatabase } from './reach.js';

/**
 * `mdhub report unused --month YYYY-MM [--format csv|json] [--out FILE]`: the entitlements nobody
 * used that month and what each cost (docs/usage-reports.md, "Unused entitlements"). Beside a
 * running embedded hub it asks that hub (`GET /admin/reports/unused`) for the JSON, which is the
 * whole list, and renders it with the same code, so the bytes are the same either way.
 */
export async function reportUnused(values: Record<string, string | boolean | undefined>): Promise<number> {
  const month = monthOption(values, 'report');
  const format = formatOption(values);
  const out = values.out as string | undefined;

  const { env, catalog, logger } = loadEnvironment();
  const write = async (report: UnusedReport) => {
    await writeOutput(out, formatUnused(report, format));
    process.stderr.write(
      `unused ${month}: ${report.rows.length} entitlement(s) never used, costing ${report.total}${out ? `; written to ${out}` : ''}\n`,
    );
  };
  const { db, hub } = await reachDatabase(env, logger, 'mdhub report');
  if (hub) {
    process.stderr.write(`unused ${month}: through the admin API of the hub (pid ${hub.holder.pid})\n`);
    const response = await hub.request('GET', '/admin/reports/unused', { month, format: 'json' });
    await write((await response.json()) as UnusedReport);
    return 0;
  }
  try {
    const { rows } = await db.query<{ table: string | null }>(
      "select to_regclass('usage_daily')::text as table",
    );
    if (!rows[0]?.table)
      throw new CliError("the database has no usage ledger yet; run 'mdhub migrate' first");
    await write(await readUnusedEntitlements(db, catalog, month));
    return 0;
  } finally {
    await db.close();
  }
}
