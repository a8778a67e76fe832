/**
 * Generating a monthly exchange usage report: the one function the CLI and the admin route call.
 * It reads the ledger and the entitlement history, builds and formats the report, and in one
 * transaction records what it counted per (user, product) in `usage_monthly` and the report's
 * SHA-256 in the audit log, so any file handed to an exchange can later be proven to be the one
 * generated, and regenerated to the byte.
 */
import { createHash } from 'node:crypto';
import { appendAudit } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import type { Actor } from '../platform/actor.js';
import type { Db, Tx } from '../platform/db/index.js';
import { parseUsageMonth } from './month.js';
import { firstRealtime, lastRealtime, type MonthlyUsage, readMonthlyUsage } from './monthly.js';
import { buildUsageReport, ReportError, type UsageReport } from './report.js';
import { CONTENT_TYPES, formatReport, type ReportFormat } from './report-format.js';

export interface GenerateOptions {
  /** One row per subscriber besides the summary (default false). */
  detail?: boolean;
  /** Default `json`. */
  format?: ReportFormat;
  /** Who asked for it, as the audit log records (default the system). */
  actor?: Actor;
  /** When, epoch ms, for the audit record only: the report itself never contains the time. */
  at?: number;
  /** Called as the work advances (for a CLI's progress line). */
  onProgress?: (step: string) => void;
}

export interface GeneratedReport {
  report: UsageReport;
  format: ReportFormat;
  /** The file, exactly as hashed. */
  body: string;
  contentType: string;
  /** SHA-256 of `body` (UTF-8), hex. */
  sha256: string;
  /** The audit record that holds the hash. */
  auditSeq: number;
}

export const REPORT_ACTOR: Actor = { type: 'system', id: 'reports' };

/** Rows per insert: large enough to be quick, small enough for any parameter limit. */
const CHUNK = 5000;

async function recordMonthly(tx: Tx, month: string, usage: readonly MonthlyUsage[]): Promise<void> {
  await tx.query('delete from usage_monthly where month = $1', [month]);
  for (let i = 0; i < usage.length; i += CHUNK) {
    const chunk = usage.slice(i, i + CHUNK);
    await tx.query(
      `insert into usage_monthly (month, product, user_id, category, entitled, accessed, devices, queries,
          first_realtime_at, last_realtime_at)
        select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::boolean[], $6::boolean[], $7::int[],
          $8::int8[], $9::int8[], $10::int8[])`,
      [
        month,
        chunk.map((u) => u.product),
        chunk.map((u) => u.userId),
        chunk.map((u) => u.category),
        chunk.map((u) => u.entitled),
        chunk.map((u) => u.accessed),
        chunk.map((u) => u.devices.length),
        chunk.map((u) => u.devices.reduce((sum, d) => sum + d.queries, 0)),
        chunk.map((u) => firstRealtime(u.devices)),
        chunk.map((u) => lastRealtime(u.devices)),
      ],
    );
  }
}

/**
 * Generates the usage report for `month` (`YYYY-MM`). Throws a `ReportError` for a malformed
 * month or a catalog without a fee schedule in force for that month.
 */
export async function generateUsageReport(
  db: Db,
  catalog: Catalog,
  month: string,
  options: GenerateOptions = {},
): Promise<GeneratedReport> {
  const bounds = parseUsageMonth(month);
  if (!bounds) throw new ReportError(`month must look like YYYY-MM, got ${JSON.stringify(month)}`);
  const format = options.format ?? 'json';
  const detail = options.detail ?? false;
  const progress = options.onProgress ?? (() => undefined);

  return db.transaction(async (tx) => {
    // One report per month at a time: two at once would each replace the other's monthly rows.
    await tx.query("select pg_advisory_xact_lock(hashtext('mdhub.usage_report'), hashtext($1))", [month]);
    progress('reading the ledger and the entitlement history');
    const usage = await readMonthlyUsage(tx, catalog, bounds);
    progress(`counting subscribers among ${usage.length} user-products`);
    const report = buildUsageReport(catalog, bounds, usage, { detail });
    const body = formatReport(report, format);
    const sha256 = createHash('sha256').update(body, 'utf8').digest('hex');
    progress(`recording ${usage.length} monthly ledger rows`);
    await recordMonthly(tx, month, usage);
    const record = await appendAudit(tx, {
      actor: options.actor ?? REPORT_ACTOR,
      action: 'report.generate',
      subject: `report:usage:${month}`,
      details: {
        report: 'usage',
        month,
        format,
        detail,
        catalogVersion: catalog.version,
        sha256,
        bytes: Buffer.byteLength(body, 'utf8'),
      },
      at: options.at ?? Date.now(),
    });
    return { report, format, body, contentType: CONTENT_TYPES[format], sha256, auditSeq: record.seq };
  });
}
