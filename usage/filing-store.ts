/**
 * The filings tables (migrations/0011_filings.sql): append-only rows, read back as `Filing`s.
 * Only this module's verbs write them, each under the month's filing lock.
 */
import type { Actor, OperatorRole } from '../platform/actor.js';
import type { Queryable, Tx } from '../platform/db/index.js';
import type { FilingFile, RenderedFile } from './filing-files.js';
import { FILING_LOCK } from './late.js';
import type { ReportFormat } from './report-format.js';

export interface Filing {
  id: number;
  month: string;
  /** The licensor whose products it covers; null: every product of the catalog. */
  licensor: string | null;
  kind: 'filing' | 'amendment';
  /** The filing an amendment replaces; null for a month's first filing. */
  replaces: number | null;
  catalogVersion: string;
  /** Epoch ms. */
  filedAt: number;
  filedBy: Actor;
  /** Why an amendment was filed; null for a first filing. */
  reason: string | null;
  /** The audit record that carries the files' hashes. */
  auditSeq: number;
  files: FilingFile[];
}

export interface NewFiling {
  month: string;
  licensor: string | null;
  replaces: number | null;
  catalogVersion: string;
  filedAt: number;
  filedBy: Actor;
  reason: string | null;
  /** The delta against `replaces`, as canonical JSON; null for a first filing. */
  deltaJson: string | null;
  auditSeq: number;
}

interface FilingRow {
  id: number;
  month: string;
  licensor: string | null;
  replaces: number | null;
  catalog_version: string;
  filed_at: number;
  actor_type: Actor['type'];
  actor_id: string;
  actor_role: string | null;
  reason: string | null;
  audit_seq: number;
  files: Array<{ format: ReportFormat; detail: boolean; sha256: string; bytes: number }>;
}

/** Holds the month's filing lock until the transaction ends: filings and the ledger's late marks queue on it. */
export async function lockMonthFilings(tx: Tx, month: string): Promise<void> {
  await tx.query(`select pg_advisory_xact_lock(${FILING_LOCK})`, [month]);
}

/** The next filing id: known before the audit record is written, so the record can name it. */
export async function nextFilingId(tx: Tx): Promise<number> {
  const { rows } = await tx.query<{ id: number }>("select nextval('report_filing_ids') as id");
  return rows[0]!.id;
}

export async function insertFiling(
  tx: Tx,
  id: number,
  filing: NewFiling,
  files: readonly RenderedFile[],
): Promise<void> {
  const actor = filing.filedBy;
  await tx.query(
    `insert into report_filings (id, month, licensor, replaces, catalog_version, filed_at, actor_type, actor_id,
        actor_role, reason, delta_json, audit_seq)
      values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      id,
      filing.month,
      filing.licensor,
      filing.replaces,
      filing.catalogVersion,
      filing.filedAt,
      actor.type,
      actor.id,
      actor.type === 'operator' ? actor.role : null,
      filing.reason,
      filing.deltaJson,
      filing.auditSeq,
    ],
  );
  for (const file of files) {
    await tx.query(
      'insert into report_filing_files (filing_id, format, detail, body, sha256) values ($1, $2, $3, $4, $5)',
      [id, file.format, file.detail, file.body, file.sha256],
    );
  }
}

const ORDER = ['json:false', 'json:true', 'csv:false', 'csv:true'];

function toFiling(row: FilingRow): Filing {
  const filedBy: Actor =
    row.actor_type === 'operator'
      ? { type: 'operator', id: row.actor_id, role: row.actor_role as OperatorRole }
      : { type: row.actor_type, id: row.actor_id };
  const files = row.files
    .map((f) => ({ format: f.format, detail: f.detail, sha256: f.sha256, bytes: Number(f.bytes) }))
    .sort((a, b) => ORDER.indexOf(`${a.format}:${a.detail}`) - ORDER.indexOf(`${b.format}:${b.detail}`));
  return {
    id: row.id,
    month: row.month,
    licensor: row.licensor,
    kind: row.replaces === null ? 'filing' : 'amendment',
    replaces: row.replaces,
    catalogVersion: row.catalog_version,
    filedAt: row.filed_at,
    filedBy,
    reason: row.reason,
    auditSeq: row.audit_seq,
    files,
  };
}

const SELECT = `select f.id, f.month, f.licensor, f.replaces, f.catalog_version, f.filed_at, f.actor_type,
    f.actor_id, f.actor_role, f.reason, f.audit_seq,
    (select json_agg(json_build_object('format', x.format, 'detail', x.detail, 'sha256', x.sha256,
        'bytes', octet_length(x.body)))
       from report_filing_files x where x.filing_id = f.id) as files
  from report_filings f`;

export interface FilingFilter {
  month?: string;
  id?: number;
}

/** Filings in id order (the order they were filed in), optionally one month's or one id's. */
export async function selectFilings(q: Queryable, filter: FilingFilter = {}): Promise<Filing[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.month !== undefined) {
    params.push(filter.month);
    where.push(`f.month = $${params.length}`);
  }
  if (filter.id !== undefined) {
    params.push(filter.id);
    where.push(`f.id = $${params.length}`);
  }
  const { rows } = await q.query<FilingRow>(
    `${SELECT}${where.length ? ` where ${where.join(' and ')}` : ''} order by f.id`,
    params,
  );
  return rows.map(toFiling);
}

/** The latest filing of a month for one licensor scope (null: every licensor): the one nothing replaced. */
export async function latestFiling(
  q: Queryable,
  month: string,
  licensor: string | null,
): Promise<Filing | undefined> {
  const { rows } = await q.query<FilingRow>(
    `${SELECT} where f.month = $1 and f.licensor is not distinct from $2
        and not exists (select 1 from report_filings n where n.replaces = f.id)`,
    [month, licensor],
  );
  return rows[0] && toFiling(rows[0]);
}

/** Every chain's latest filing, by month then id. */
export async function latestFilings(q: Queryable): Promise<Filing[]> {
  const { rows } = await q.query<FilingRow>(
    `${SELECT} where not exists (select 1 from report_filings n where n.replaces = f.id) order by f.month, f.id`,
  );
  return rows.map(toFiling);
}

/** One stored rendering, byte for byte; undefined for an unknown filing. */
export async function selectFilingBody(
  q: Queryable,
  id: number,
  format: ReportFormat,
  detail: boolean,
): Promise<Buffer | undefined> {
  const { rows } = await q.query<{ body: Uint8Array }>(
    'select body from report_filing_files where filing_id = $1 and format = $2 and detail = $3',
    [id, format, detail],
  );
  const body = rows[0]?.body;
  return body === undefined ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** An amendment's delta as stored (canonical JSON); null for a first filing, undefined for an unknown id. */
export async function selectDelta(q: Queryable, id: number): Promise<string | null | undefined> {
  const { rows } = await q.query<{ delta_json: string | null }>(
    'select delta_json from report_filings where id = $1',
    [id],
  );
  return rows[0]?.delta_json;
}
