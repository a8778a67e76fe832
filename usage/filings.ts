/**
 * Filing a month's usage report (DESIGN rule 10): its exact bytes — JSON and CSV, summary and
 * detail — their SHA-256, the catalog version, who and when, kept append-only, with an audit
 * record carrying the hashes in the same transaction. A month is filed once it is over, once per
 * licensor scope (every licensor, or one); what changes afterwards is an amendment (amend.ts).
 * Listing the filings regenerates each month to say whether its filings still match.
 */
import { appendAudit } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import { authorize } from '../entitlements/index.js';
import type { VerbContext } from '../platform/actor.js';
import type { Queryable } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import { type FilingFile, type RenderedFile, regenerate, sameFiles } from './filing-files.js';
import { filingLicensor, filingMonth, reportSubject, scopeWords } from './filing-scope.js';
import {
  type Filing,
  insertFiling,
  latestFiling,
  lockMonthFilings,
  nextFilingId,
  selectFilingBody,
  selectFilings,
} from './filing-store.js';
import type { ReportFormat } from './report-format.js';

/** A verb on reports sees the catalog beside the usual context; `at` is also the clock a month is judged over by. */
export interface ReportContext extends VerbContext {
  catalog: Catalog;
}

export interface FileInput {
  month: string;
  /** Only this licensor's products; omitted or null, every product of the catalog. */
  licensor?: string | null;
}

/** How the files appear in an audit record and in the listings: everything but the bytes. */
export function fileFacts(files: readonly RenderedFile[]): FilingFile[] {
  return files.map(({ format, detail, sha256, bytes }) => ({ format, detail, sha256, bytes }));
}

/**
 * Files the month's report. Refused while the month is not over (`month_open`: its end is after
 * `ctx.at`), and when the month is filed already for that licensor scope (`already_filed`).
 */
export async function fileReport({ ctx, input }: { ctx: ReportContext; input: FileInput }): Promise<Filing> {
  authorize(ctx.actor, 'reports.file');
  const month = filingMonth(input.month);
  const licensor = filingLicensor(ctx.catalog, input.licensor);
  if (month.end > ctx.at) {
    throw new DomainError(
      'conflict',
      'month_open',
      `${month.month} is not over: it ends at ${new Date(month.end).toISOString()}; a month is filed once it has ended, so late usage cannot be missing from it`,
    );
  }
  // Held until commit: the ledger's late marks and other filings of the month wait for this one.
  await lockMonthFilings(ctx.tx, month.month);
  const filed = await latestFiling(ctx.tx, month.month, licensor);
  if (filed) {
    throw new DomainError(
      'conflict',
      'already_filed',
      `${month.month} (${scopeWords(licensor)}) was filed already (filing ${filed.id}); file an amendment to it instead`,
    );
  }
  const content = (await regenerate(ctx.tx, ctx.catalog, month, [licensor])).get(licensor)!;
  const id = await nextFilingId(ctx.tx);
  const files = fileFacts(content.files);
  const record = await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'report.file',
    subject: reportSubject(month.month),
    details: { filing: id, month: month.month, licensor, catalogVersion: ctx.catalog.version, files },
    at: ctx.at,
  });
  const filing: Filing = {
    id,
    month: month.month,
    licensor,
    kind: 'filing',
    replaces: null,
    catalogVersion: ctx.catalog.version,
    filedAt: ctx.at,
    filedBy: ctx.actor,
    reason: null,
    auditSeq: record.seq,
    files,
  };
  await insertFiling(ctx.tx, id, { ...filing, deltaJson: null }, content.files);
  return filing;
}

/** A filing as listed: where it stands in its chain, and whether the live report still matches it. */
export interface ListedFiling extends Filing {
  /** The amendment that replaced it; null for the latest of its chain. */
  replacedBy: number | null;
  /** The live report, regenerated now, is byte for byte this filing. */
  matchesLive: boolean;
  /** Why the month could not be regenerated (a catalog without its fee schedule); absent otherwise. */
  liveError?: string;
}

export interface FilingList {
  /** When the live reports were regenerated, epoch ms. */
  checkedAt: number;
  /** By month, then in the order filed; each chain reads filing → amendment → amendment. */
  filings: ListedFiling[];
}

/** Every filing (or one month's), each compared with the report regenerated now; one ledger read per month. */
export async function listFilings(
  q: Queryable,
  catalog: Catalog,
  options: { month?: string; at: number },
): Promise<FilingList> {
  const filings = await selectFilings(q, options.month === undefined ? {} : { month: options.month });
  const replacedBy = new Map(
    filings.flatMap((f) => (f.replaces === null ? [] : [[f.replaces, f.id] as const])),
  );
  const months = [...new Set(filings.map((f) => f.month))].sort();
  const listed: ListedFiling[] = [];
  for (const month of months) {
    const ofMonth = filings.filter((f) => f.month === month);
    let live: Awaited<ReturnType<typeof regenerate>> | undefined;
    let liveError: string | undefined;
    try {
      live = await regenerate(q, catalog, filingMonth(month), [...new Set(ofMonth.map((f) => f.licensor))]);
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      liveError = error.message;
    }
    for (const filing of ofMonth) {
      const current = live?.get(filing.licensor);
      listed.push({
        ...filing,
        replacedBy: replacedBy.get(filing.id) ?? null,
        matchesLive: current !== undefined && sameFiles(filing.files, current.files),
        ...(liveError === undefined ? {} : { liveError }),
      });
    }
  }
  return { checkedAt: options.at, filings: listed };
}

/** One filed rendering, byte for byte as filed, with its hash; `unknown_filing` when there is none. */
export async function readFiledFile(
  q: Queryable,
  id: number,
  format: ReportFormat,
  detail: boolean,
): Promise<{ body: Buffer; sha256: string }> {
  const [filing] = await selectFilings(q, { id });
  const file = filing?.files.find((f) => f.format === format && f.detail === detail);
  const body = file && (await selectFilingBody(q, id, format, detail));
  if (!file || !body) throw new DomainError('not_found', 'unknown_filing', `there is no filing ${id}`);
  return { body, sha256: file.sha256 };
}
