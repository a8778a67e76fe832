/**
 * Drift: what the live report of a filed month says against its latest filing, row by row
 * (summary) and subscriber by subscriber (detail), and why each subscriber changed — the late
 * usage events counted after the filing (`usage_late`) and the entitlement changes entered after
 * it with an effect date before the month's end (read from the audit log). The same comparison is
 * an amendment's delta against the filing it replaces.
 */
import { type AuditRecord, canonicalJson, queryAudit } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import type { Actor } from '../platform/actor.js';
import type { Queryable } from '../platform/db/index.js';
import { type FilingContent, type FilingFile, regenerate, sameFiles } from './filing-files.js';
import { filingLicensor, filingMonth, notFiled } from './filing-scope.js';
import { type Filing, latestFiling, selectFilingBody } from './filing-store.js';
import { parseUsageMonth, type UsageMonth } from './month.js';
import { compareText } from './monthly.js';
import type { DetailRow, SummaryRow, UsageReport } from './report.js';

/** A usage event counted after the filing it is compared with. */
export interface LateEvent {
  id: string;
  kind: string;
  product: string;
  user: string;
  device: string | null;
  day: string;
  /** The event's own time, and when the ledger counted it; epoch ms. */
  at: number;
  receivedAt: number;
}

/** An entitlement change entered after the filing whose effect reaches into the month. */
export interface Correction {
  /** The audit record. */
  seq: number;
  action: string;
  /** When it was entered, epoch ms, and by whom. */
  enteredAt: number;
  by: Actor;
  /** When it took effect, epoch ms (its effect date; for anything else, when it was entered). */
  effectiveAt: number;
  /** The product it is about; null for what applies to every product (an attestation). */
  product: string | null;
  reason: string | null;
}

export type Change = 'added' | 'removed' | 'changed';

export interface RowChange {
  product: string;
  category: string;
  change: Change;
  before: SummaryRow | null;
  after: SummaryRow | null;
}

export interface SubscriberChange {
  product: string;
  user: string;
  device: string | null;
  change: Change;
  before: DetailRow | null;
  after: DetailRow | null;
  /** Why: the late events and corrections of this user (and product) since the filing. */
  lateEvents: LateEvent[];
  corrections: Correction[];
}

/** How one report differs from another: the machine-readable delta an amendment carries. */
export interface ReportDelta {
  /** Set when the catalog version differs (every file then differs in its header). */
  catalogVersion: { before: string; after: string } | null;
  rows: RowChange[];
  subscribers: SubscriberChange[];
}

export interface FilingDiff extends ReportDelta {
  month: string;
  licensor: string | null;
  /** The filing compared with: the latest of its month and licensor. */
  filing: Filing;
  /** Whether the live report is still byte for byte the filed one. */
  matches: boolean;
  /** The live report's files, as they would be filed now. */
  live: FilingFile[];
  /** Every usage event of the month and licensor counted after the filing, changing the report or not. */
  lateEvents: number;
}

/** Audit records per page when reading a user's changes. */
const AUDIT_PAGE = 1000;

function subscriberKey(row: Pick<DetailRow, 'product' | 'user' | 'device'>): string {
  return [row.product, row.user, row.device ?? ''].join('\u0000');
}

function same(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** Compares two detail reports: summary rows by (product, category), detail rows by (product, user, device). */
export function compareReports(before: UsageReport, after: UsageReport): ReportDelta {
  const rowKey = (row: SummaryRow) => `${row.product}\u0000${row.category}`;
  const rows: RowChange[] = [];
  const afterRows = new Map(after.rows.map((row) => [rowKey(row), row]));
  const beforeRows = new Map(before.rows.map((row) => [rowKey(row), row]));
  for (const row of before.rows) {
    const now = afterRows.get(rowKey(row));
    if (!now)
      rows.push({
        product: row.product,
        category: row.category,
        change: 'removed',
        before: row,
        after: null,
      });
    else if (!same(row, now))
      rows.push({ product: row.product, category: row.category, change: 'changed', before: row, after: now });
  }
  for (const row of after.rows)
    if (!beforeRows.has(rowKey(row)))
      rows.push({ product: row.product, category: row.category, change: 'added', before: null, after: row });

  const subscribers: SubscriberChange[] = [];
  const was = new Map((before.details ?? []).map((row) => [subscriberKey(row), row]));
  const is = new Map((after.details ?? []).map((row) => [subscriberKey(row), row]));
  for (const key of new Set([...was.keys(), ...is.keys()])) {
    const a = was.get(key) ?? null;
    const b = is.get(key) ?? null;
    if (a && b && same(a, b)) continue;
    const row = (b ?? a)!;
    subscribers.push({
      product: row.product,
      user: row.user,
      device: row.device,
      change: a === null ? 'added' : b === null ? 'removed' : 'changed',
      before: a,
      after: b,
      lateEvents: [],
      corrections: [],
    });
  }
  subscribers.sort(
    (x, y) =>
      compareText(x.product, y.product) ||
      compareText(x.user, y.user) ||
      compareText(x.device ?? '', y.device ?? ''),
  );
  const catalogVersion =
    before.catalogVersion === after.catalogVersion
      ? null
      : { before: before.catalogVersion, after: after.catalogVersion };
  return { catalogVersion, rows, subscribers };
}

/** The filed detail report, parsed back from its stored JSON bytes. */
export async function filedReport(q: Queryable, filing: Filing): Promise<UsageReport> {
  const body = await selectFilingBody(q, filing.id, 'json', true);
  if (!body) throw new Error(`filing ${filing.id} has no JSON detail file`);
  return JSON.parse(body.toString('utf8')) as UsageReport;
}

interface LateRow {
  event_id: string;
  kind: string;
  product: string;
  user_id: string;
  device_id: string;
  day: string;
  at: number;
  received_at: number;
}

/** Usage events of the month counted after `filing` (marked late for it or a later filing of the month). */
async function lateEventsSince(q: Queryable, catalog: Catalog, filing: Filing): Promise<LateEvent[]> {
  const products = [...catalog.products.values()]
    .filter((p) => filing.licensor === null || p.licensor === filing.licensor)
    .map((p) => p.id);
  const { rows } = await q.query<LateRow>(
    `select event_id, kind, product, user_id, device_id, day, at, received_at from usage_late
      where month = $1 and filing_id >= $2 and product = any($3::text[]) order by seq`,
    [filing.month, filing.id, products],
  );
  return rows.map((r) => ({
    id: r.event_id,
    kind: r.kind,
    product: r.product,
    user: r.user_id,
    device: r.device_id === '' ? null : r.device_id,
    day: r.day,
    at: r.at,
    receivedAt: r.received_at,
  }));
}

/** When a change took effect: the effect date a correction records, else when it was entered. */
export function effectiveAt(record: Pick<AuditRecord, 'at' | 'details'>): number {
  const details = (record.details ?? {}) as { effectiveFrom?: unknown; effectiveAt?: unknown };
  for (const value of [details.effectiveFrom, details.effectiveAt])
    if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  return record.at;
}

/** Whether an audit record is an entitlement change whose effect reaches into a month ending at `end`. */
export function reachesInto(record: Pick<AuditRecord, 'subject' | 'at' | 'details'>, end: number): boolean {
  return record.subject.startsWith('user:') && effectiveAt(record) < end;
}

function toCorrection(record: AuditRecord): Correction {
  const details = (record.details ?? {}) as { product?: unknown; reason?: unknown };
  return {
    seq: record.seq,
    action: record.action,
    enteredAt: record.at,
    by: record.actor,
    effectiveAt: effectiveAt(record),
    product: typeof details.product === 'string' ? details.product : null,
    reason: typeof details.reason === 'string' ? details.reason : null,
  };
}

/** The user's entitlement changes entered after the filing's audit record, reaching into the month. */
async function correctionsOf(
  q: Queryable,
  user: string,
  after: number,
  month: UsageMonth,
): Promise<Correction[]> {
  const found: Correction[] = [];
  for (let cursor: number | null = after; cursor !== null; ) {
    const page = await queryAudit(q, { subject: `user:${user}`, after: cursor, limit: AUDIT_PAGE });
    for (const record of page.records) if (reachesInto(record, month.end)) found.push(toCorrection(record));
    cursor = page.next;
  }
  return found;
}

/**
 * Fills in each subscriber change's reasons: the late events of its (user, product) counted after
 * `filing`, and the user's corrections (those naming another product left out).
 */
export async function explain(
  q: Queryable,
  catalog: Catalog,
  filing: Filing,
  delta: ReportDelta,
): Promise<{ delta: ReportDelta; lateEvents: number }> {
  const month = parseUsageMonth(filing.month)!;
  const late = await lateEventsSince(q, catalog, filing);
  const corrections = new Map<string, Correction[]>();
  for (const user of new Set(delta.subscribers.map((s) => s.user)))
    corrections.set(user, await correctionsOf(q, user, filing.auditSeq, month));
  const subscribers = delta.subscribers.map((s) => ({
    ...s,
    lateEvents: late.filter((e) => e.user === s.user && e.product === s.product),
    corrections: (corrections.get(s.user) ?? []).filter((c) => c.product === null || c.product === s.product),
  }));
  return { delta: { ...delta, subscribers }, lateEvents: late.length };
}

/** The diff of `filing` against the live report, given the live report already regenerated. */
export async function diffAgainst(
  q: Queryable,
  catalog: Catalog,
  filing: Filing,
  live: FilingContent,
): Promise<FilingDiff> {
  const matches = sameFiles(filing.files, live.files);
  const compared = matches
    ? { catalogVersion: null, rows: [], subscribers: [] }
    : compareReports(await filedReport(q, filing), live.report);
  const { delta, lateEvents } = await explain(q, catalog, filing, compared);
  return {
    month: filing.month,
    licensor: filing.licensor,
    filing,
    matches,
    live: live.files.map(({ body: _, ...file }) => file),
    lateEvents,
    ...delta,
  };
}

/**
 * The diff of a month's latest filing (for `licensor`, null: the filing of every licensor)
 * against the report regenerated now. Throws `not_filed` when the month has no such filing.
 */
export async function diffMonth(
  q: Queryable,
  catalog: Catalog,
  input: { month: string; licensor?: string | null },
): Promise<FilingDiff> {
  const month = filingMonth(input.month);
  const licensor = filingLicensor(catalog, input.licensor);
  const filing = await latestFiling(q, month.month, licensor);
  if (!filing) throw notFiled(month.month, licensor);
  const live = (await regenerate(q, catalog, month, [licensor])).get(licensor)!;
  return diffAgainst(q, catalog, filing, live);
}
