/**
 * Generating one licensor's usage file for a month, the one function the CLI and the admin route
 * call: the usage report built from the ledger and the entitlement history, cut to the licensor
 * (`buildLicensorFiles`), checked as the licensor would check it (`validateLicensorFiles`) and only
 * then formatted, hashed and recorded in the audit log, in one transaction. A refused file leaves
 * no record: nothing was produced.
 */
import { createHash } from 'node:crypto';
import { appendAudit } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import { userContacts } from '../entitlements/index.js';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import { type GenerateOptions, REPORT_ACTOR } from './generate.js';
import { buildLicensorFiles, type LicensorFiles } from './licensor-file.js';
import { formatLicensorFile, type LicensorFileKind } from './licensor-format.js';
import { validateLicensorFiles } from './licensor-validate.js';
import { parseUsageMonth } from './month.js';
import { readMonthlyUsage } from './monthly.js';
import { buildUsageReport, ReportError } from './report.js';
import { CONTENT_TYPES, type ReportFormat } from './report-format.js';

export interface GeneratedLicensorFile {
  files: LicensorFiles;
  kind: LicensorFileKind;
  format: ReportFormat;
  /** The file, exactly as hashed. */
  body: string;
  contentType: string;
  /** SHA-256 of `body` (UTF-8), hex. */
  sha256: string;
  /** The audit record that holds the hash. */
  auditSeq: number;
}

/**
 * Generates `licensor`'s summary (or with `detail` its detail file) for `month`. Throws a
 * `ReportError` for a malformed month or one no fee schedule covers, a `DomainError`
 * `unknown_licensor`, and a `LicensorFileError` naming what the licensor would reject.
 */
export async function generateLicensorFile(
  db: Db,
  catalog: Catalog,
  month: string,
  licensor: string,
  options: GenerateOptions = {},
): Promise<GeneratedLicensorFile> {
  const bounds = parseUsageMonth(month);
  if (!bounds) throw new ReportError(`month must look like YYYY-MM, got ${JSON.stringify(month)}`);
  if (!catalog.licensors.has(licensor)) {
    const known = [...catalog.licensors.keys()].join(', ');
    throw new DomainError(
      'not_found',
      'unknown_licensor',
      `catalog ${catalog.version} has no licensor ${JSON.stringify(licensor)} (it has ${known})`,
    );
  }
  const format = options.format ?? 'json';
  const kind: LicensorFileKind = options.detail ? 'detail' : 'summary';
  const progress = options.onProgress ?? (() => undefined);

  return db.transaction(async (tx) => {
    progress('reading the ledger and the entitlement history');
    // Everything in a report is per product, so reading only this licensor's is the same cut.
    const ours = licensorCatalog(catalog, licensor);
    const usage = await readMonthlyUsage(tx, ours, bounds);
    progress(`counting subscribers among ${usage.length} user-products`);
    const report = buildUsageReport(ours, bounds, usage, { detail: true });
    const users = [...new Set(report.details!.map((d) => d.user))];
    const files = buildLicensorFiles(catalog, licensor, report, usage, await userContacts(tx, users));
    progress(`checking the ${licensor} ${kind} as the licensor would`);
    validateLicensorFiles(catalog, files, kind);
    const body = formatLicensorFile(files, kind, format);
    const sha256 = createHash('sha256').update(body, 'utf8').digest('hex');
    const record = await appendAudit(tx, {
      actor: options.actor ?? REPORT_ACTOR,
      action: 'report.generate',
      subject: `report:usage:${month}`,
      details: {
        report: 'licensor',
        licensor,
        file: kind,
        month,
        format,
        catalogVersion: catalog.version,
        sha256,
        bytes: Buffer.byteLength(body, 'utf8'),
      },
      at: options.at ?? Date.now(),
    });
    return { files, kind, format, body, contentType: CONTENT_TYPES[format], sha256, auditSeq: record.seq };
  });
}

/** The catalog with only `licensor`'s products: what that licensor's file is read and built from. */
function licensorCatalog(catalog: Catalog, licensor: string): Catalog {
  const products = new Map([...catalog.products].filter(([, product]) => product.licensor === licensor));
  return {
    ...catalog,
    products,
    productForTape: (tape) => {
      const product = catalog.productForTape(tape);
      return product?.licensor === licensor ? product : undefined;
    },
  };
}
