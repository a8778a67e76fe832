import { z } from 'zod';
import type { Queryable } from '../platform/db/index.js';
import { type AuditRecord, STORED_COLUMNS, type StoredRecord, toAuditRecord } from './chain.js';

/** Which records an auditor asks for; times are epoch ms, `from` inclusive, `to` exclusive. */
export interface AuditFilter {
  subject?: string;
  from?: number;
  to?: number;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Epoch ms, a UTC date (`2026-01-31`) or an ISO-8601 time with its zone
 * (`2026-01-31T09:30:00Z`, `…+01:00`); `undefined` for anything else. A time without a zone is
 * refused rather than read in the server's local zone, and impossible dates (Feb 30) are refused
 * rather than rolled over as `Date.parse` does.
 */
export function parseInstant(text: string): number | undefined {
  if (/^\d{1,15}$/.test(text)) return Number(text);
  const m = ISO.exec(text);
  if (!m) return undefined;
  const part = (i: number) => Number(m[i] ?? 0);
  const [year, month, day, hour, minute, second] = [part(1), part(2), part(3), part(4), part(5), part(6)];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  // Sub-millisecond digits are dropped: mdhub's times are whole milliseconds.
  const ms = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
  const at = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  const date = new Date(at);
  if (date.getUTCFullYear() !== year || date.getUTCDate() !== day) return undefined;
  const zone = m[8];
  if (!zone || zone === 'Z') return at;
  const sign = zone.startsWith('-') ? -1 : 1;
  return at - sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
}

/** A query-string time, for routes and the CLI alike. */
export const instant = z.string().transform((text, ctx) => {
  const at = parseInstant(text);
  if (at === undefined) {
    ctx.addIssue({
      code: 'custom',
      message:
        'must be epoch milliseconds, a date (2026-01-31) or an ISO-8601 time with a zone (2026-01-31T09:30:00Z)',
    });
    return z.NEVER;
  }
  return at;
});

const sequence = z
  .string()
  .regex(/^\d{1,15}$/, { message: 'must be a record sequence number' })
  .transform(Number);

export const MAX_PAGE = 1000;

const filterShape = {
  subject: z.string().min(1).max(500).optional(),
  from: instant.optional(),
  to: instant.optional(),
};

const fromBeforeTo = (q: { from?: number; to?: number }) =>
  q.from === undefined || q.to === undefined || q.from < q.to;
const fromBeforeToMessage = { message: 'must be after from', path: ['to'] };

/** `mdhub audit export` filters; unknown keys are refused so a typo is not a silent no-op. */
export const auditFilterSchema = z.strictObject(filterShape).refine(fromBeforeTo, fromBeforeToMessage);

/** `GET /admin/audit` query parameters. */
export const auditQuerySchema = z
  .strictObject({
    ...filterShape,
    after: sequence.optional(),
    limit: z
      .string()
      .regex(/^\d+$/, { message: `must be a whole number from 1 to ${MAX_PAGE}` })
      .transform(Number)
      .pipe(z.number().int().min(1).max(MAX_PAGE))
      .default(100),
  })
  .refine(fromBeforeTo, fromBeforeToMessage);

/** One line naming every bad parameter: `from must be …; limit must be …`. */
export function describeIssues(error: z.ZodError, name: (key: string) => string = (key) => key): string {
  return error.issues
    .map((issue) => (issue.path.length ? `${name(issue.path.join('.'))} ${issue.message}` : issue.message))
    .join('; ');
}

export type AuditQuery = z.output<typeof auditQuerySchema>;

export interface AuditPage {
  records: AuditRecord[];
  /** Pass as `after` for the next page; null on the last page. */
  next: number | null;
}

/** One page of matching records in sequence order, after the sequence cursor `after`. */
export async function queryAudit(db: Queryable, query: AuditQuery): Promise<AuditPage> {
  const rows = await selectPage(db, query, query.after ?? 0, undefined, query.limit);
  const last = rows[rows.length - 1];
  return { records: rows.map(toAuditRecord), next: last && rows.length === query.limit ? last.seq : null };
}

/**
 * Every matching record in sequence order, as stored, a batch at a time. A time range is first
 * narrowed to the sequence band it falls in (the `(at, seq)` index answers that), so each batch
 * is a short range read on the primary key however large the log.
 */
export async function* streamAudit(
  db: Queryable,
  filter: AuditFilter,
  batchSize = 1000,
): AsyncGenerator<StoredRecord> {
  let after = 0;
  let upTo: number | undefined;
  if (filter.from !== undefined || filter.to !== undefined) {
    const { rows } = await db.query<{ lo: number | null; hi: number | null }>(
      'select min(seq) as lo, max(seq) as hi from audit_log where at >= $1 and at < $2',
      [filter.from ?? 0, filter.to ?? Number.MAX_SAFE_INTEGER],
    );
    const band = rows[0];
    if (!band || band.lo === null || band.hi === null) return;
    after = band.lo - 1;
    upTo = band.hi;
  }
  for (;;) {
    const rows = await selectPage(db, filter, after, upTo, batchSize);
    yield* rows;
    const last = rows[rows.length - 1];
    if (!last || rows.length < batchSize) return;
    after = last.seq;
  }
}

async function selectPage(
  db: Queryable,
  filter: AuditFilter,
  after: number,
  upTo: number | undefined,
  limit: number,
): Promise<StoredRecord[]> {
  const params: unknown[] = [after];
  const where = ['seq > $1'];
  const add = (condition: string, value: unknown) => {
    params.push(value);
    where.push(condition.replace('?', `$${params.length}`));
  };
  if (upTo !== undefined) add('seq <= ?', upTo);
  if (filter.subject !== undefined) add('subject = ?', filter.subject);
  if (filter.from !== undefined) add('at >= ?', filter.from);
  if (filter.to !== undefined) add('at < ?', filter.to);
  params.push(limit);
  const { rows } = await db.query<StoredRecord>(
    `select ${STORED_COLUMNS} from audit_log where ${where.join(' and ')} order by seq limit $${params.length}`,
    params,
  );
  return rows;
}
