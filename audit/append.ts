import type { Tx } from '../platform/db/index.js';
import { type AuditEntry, type AuditRecord, type ChainHead, sealRecord, toAuditRecord } from './chain.js';

/**
 * Appends one record to the audit log inside the caller's transaction, so the record commits with
 * the change it describes or not at all (fail closed). The head row lock serialises writers until
 * the caller commits: concurrent appends queue instead of forking the chain, and a rollback
 * releases the sequence number unused. Append last in a verb, to hold that lock briefly.
 */
export async function appendAudit(tx: Tx, entry: AuditEntry): Promise<AuditRecord> {
  const { rows } = await tx.query<ChainHead>('select seq, hash from audit_head where id = 1 for update');
  const head = rows[0];
  if (!head) throw new Error('audit log: the audit_head row is missing; the database was not migrated');
  const record = sealRecord(head, entry);
  await tx.query(
    'insert into audit_log (seq, at, actor_type, actor_id, actor_role, action, subject, before_json, ' +
      'after_json, details_json, prev_hash, hash) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
    [
      record.seq,
      record.at,
      record.actorType,
      record.actorId,
      record.actorRole,
      record.action,
      record.subject,
      record.before,
      record.after,
      record.details,
      record.prevHash,
      record.hash,
    ],
  );
  await tx.query('update audit_head set seq = $1, hash = $2 where id = 1', [record.seq, record.hash]);
  return toAuditRecord(record);
}
