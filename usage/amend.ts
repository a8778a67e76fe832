/**
 * Amending a filing (DESIGN rule 10): when a filed month has drifted — late usage, a correction
 * with an effect date in it — the regenerated report is filed as an amendment of the latest
 * filing of its chain, with its own exact bytes and hashes, the reason, and a machine-readable
 * delta against the filing it replaces (rows and subscribers added, removed or changed, before
 * and after, with the late events and corrections behind each), all audited in one transaction.
 */
import { createHash } from 'node:crypto';
import { appendAudit, canonicalJson } from '../audit/index.js';
import { authorize } from '../entitlements/index.js';
import { DomainError } from '../platform/errors.js';
import { compareReports, explain, filedReport, type ReportDelta } from './drift.js';
import { regenerate, sameFiles } from './filing-files.js';
import { filingLicensor, filingMonth, notFiled, reportSubject, scopeWords } from './filing-scope.js';
import {
  type Filing,
  insertFiling,
  latestFiling,
  lockMonthFilings,
  nextFilingId,
  selectFilings,
} from './filing-store.js';
import { fileFacts, type ReportContext } from './filings.js';

/** The longest reason kept, in characters. */
export const MAX_REASON = 2000;

export interface AmendInput {
  /** Why the filing is amended; kept with the amendment and in the audit log. */
  reason: string;
  /** The filing to amend, which must be the latest of its chain; or else `month` (and `licensor`). */
  filingId?: number;
  month?: string;
  /** With `month`: the licensor scope whose latest filing is amended (omitted or null: every licensor). */
  licensor?: string | null;
}

/** An amendment's delta, as stored with it and returned by `GET /admin/reports/filings/:id/delta`. */
export interface AmendmentDelta extends ReportDelta {
  /** The filing it replaces. */
  replaces: number;
  month: string;
  licensor: string | null;
}

export interface Amendment extends Filing {
  delta: AmendmentDelta;
}

async function target(
  ctx: ReportContext,
  input: AmendInput,
): Promise<{ month: string; licensor: string | null }> {
  if (input.filingId === undefined) {
    if (input.month === undefined)
      throw new DomainError('invalid', 'invalid_request', 'name the filing or its month');
    return { month: filingMonth(input.month).month, licensor: filingLicensor(ctx.catalog, input.licensor) };
  }
  const [filing] = await selectFilings(ctx.tx, { id: input.filingId });
  if (!filing) throw new DomainError('not_found', 'unknown_filing', `there is no filing ${input.filingId}`);
  return { month: filing.month, licensor: filing.licensor };
}

/**
 * Files an amendment of the latest filing of a month and licensor scope. Refused with
 * `superseded` when the filing named is not the latest of its chain, and with `no_drift` when the
 * live report is still byte for byte the latest filing (there is nothing to amend).
 */
export async function amendFiling({
  ctx,
  input,
}: {
  ctx: ReportContext;
  input: AmendInput;
}): Promise<Amendment> {
  authorize(ctx.actor, 'reports.file');
  const reason = input.reason.trim();
  if (reason === '') throw new DomainError('invalid', 'reason_required', 'an amendment needs its reason');
  if (reason.length > MAX_REASON)
    throw new DomainError('invalid', 'reason_too_long', `the reason is longer than ${MAX_REASON} characters`);
  const { month, licensor } = await target(ctx, input);
  await lockMonthFilings(ctx.tx, month);
  const latest = await latestFiling(ctx.tx, month, licensor);
  if (!latest) throw notFiled(month, licensor);
  if (input.filingId !== undefined && latest.id !== input.filingId) {
    throw new DomainError(
      'conflict',
      'superseded',
      `filing ${input.filingId} was amended already; the latest of ${month} (${scopeWords(licensor)}) is filing ${latest.id}`,
    );
  }
  const live = (await regenerate(ctx.tx, ctx.catalog, filingMonth(month), [licensor])).get(licensor)!;
  if (sameFiles(latest.files, live.files)) {
    throw new DomainError(
      'conflict',
      'no_drift',
      `the live report of ${month} (${scopeWords(licensor)}) is still byte for byte filing ${latest.id}: there is nothing to amend`,
    );
  }
  const compared = compareReports(await filedReport(ctx.tx, latest), live.report);
  const { delta: explained } = await explain(ctx.tx, ctx.catalog, latest, compared);
  const delta: AmendmentDelta = { replaces: latest.id, month, licensor, ...explained };
  const deltaJson = canonicalJson(delta);
  const id = await nextFilingId(ctx.tx);
  const files = fileFacts(live.files);
  const record = await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'report.amend',
    subject: reportSubject(month),
    details: {
      filing: id,
      replaces: latest.id,
      month,
      licensor,
      catalogVersion: ctx.catalog.version,
      reason,
      files,
      delta: {
        sha256: createHash('sha256').update(deltaJson, 'utf8').digest('hex'),
        rows: delta.rows.length,
        subscribers: delta.subscribers.length,
      },
    },
    at: ctx.at,
  });
  const filing: Filing = {
    id,
    month,
    licensor,
    kind: 'amendment',
    replaces: latest.id,
    catalogVersion: ctx.catalog.version,
    filedAt: ctx.at,
    filedBy: ctx.actor,
    reason,
    auditSeq: record.seq,
    files,
  };
  await insertFiling(ctx.tx, id, { ...filing, deltaJson }, live.files);
  return { ...filing, delta };
}
