import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditEntry,
  appendAudit,
  GENESIS_HASH,
  recordHash,
  type StoredRecord,
} from '../../audit/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db, Queryable } from '../../platform/db/index.js';

export const T0 = Date.UTC(2026, 0, 1);
export const ADMIN: Actor = { type: 'operator', id: 'op-ann', role: 'admin' };

/** The i-th of a run of plausible entitlement changes, one second apart, over five users. */
export function entry(i: number): AuditEntry {
  return {
    actor: i % 3 === 0 ? { type: 'system', id: 'billing' } : ADMIN,
    action: i % 2 ? 'grant.create' : 'grant.revoke',
    subject: `user:u${i % 5}`,
    before: i % 2 ? null : { product: 'UTP', realtime: true },
    after: { product: 'UTP', realtime: i % 2 === 1, validTo: T0 + i * 86_400_000, fee: 1.25 },
    details: i % 4 === 0 ? { reason: 'payment failed', attempt: i } : undefined,
    at: T0 + i * 1000,
  };
}

/** Appends entries `from`..`to` (inclusive), each in its own transaction as verbs do. */
export async function appendRange(db: Db, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await db.transaction((tx) => appendAudit(tx, entry(i)));
}

/**
 * Runs SQL the way an intruder with superuser rights would: with the append-only triggers off.
 * The triggers are back on afterwards, so the next test sees the log as production would.
 */
export async function tamper(db: Db, sql: string, params?: readonly unknown[]): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('alter table audit_log disable trigger all; alter table audit_head disable trigger all');
    await tx.query(sql, params);
    await tx.query('alter table audit_log enable trigger all; alter table audit_head enable trigger all');
  });
}

/** Empties the log and rewinds the head, so each test starts from the genesis. */
export function resetLog(db: Db): Promise<void> {
  return tamper(db, `truncate audit_log; update audit_head set seq = 0, hash = '${GENESIS_HASH}'`);
}

export async function storedRecords(db: Queryable): Promise<StoredRecord[]> {
  const { rows } = await db.query<StoredRecord>(
    'select seq, at, actor_type as "actorType", actor_id as "actorId", actor_role as "actorRole", action, ' +
      'subject, before_json as before, after_json as after, details_json as details, prev_hash as "prevHash", ' +
      'hash from audit_log order by seq',
  );
  return rows;
}

/**
 * Rewrites the stored log the way a careful intruder would: changes one record, then recomputes
 * every hash and link after it and moves the head, so the chain on its own looks intact.
 */
export async function rewriteChain(db: Db, change: (record: StoredRecord) => void): Promise<void> {
  const records = await storedRecords(db);
  let prevHash = GENESIS_HASH;
  for (const record of records) {
    change(record);
    record.prevHash = prevHash;
    record.hash = recordHash(record);
    prevHash = record.hash;
  }
  const last = records[records.length - 1];
  await tamper(db, 'truncate audit_log');
  for (const r of records) {
    await tamper(db, 'insert into audit_log values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)', [
      r.seq,
      r.at,
      r.actorType,
      r.actorId,
      r.actorRole,
      r.action,
      r.subject,
      r.before,
      r.after,
      r.details,
      r.prevHash,
      r.hash,
    ]);
  }
  if (last) await tamper(db, 'update audit_head set seq = $1, hash = $2', [last.seq, last.hash]);
}

export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mdhub-audit-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
