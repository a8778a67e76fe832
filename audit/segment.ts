import type { Queryable } from '../platform/db/index.js';
import { type ChainHead, GENESIS_HASH, type StoredRecord } from './chain.js';
import { failure, type VerifyFailure, walkChain } from './walk.js';

/**
 * A stretch of the log that can be checked on its own: every record from the first one entered at
 * or after an instant up to the head, with no gap, so an auditor holding only these records can
 * recompute each hash and follow each link from `anchor` to `head` (docs/audit.md, "Evidence
 * pack").
 */
export interface AuditSegment {
  /** The record just before the segment (sequence 0 and the genesis hash when it starts the log). */
  anchor: ChainHead;
  /** In sequence order; empty when no record was entered at or after the instant. */
  records: StoredRecord[];
  /** The log's head when it was read: the segment's last record, or the anchor when it is empty. */
  head: ChainHead;
}

export type ReadSegmentResult = { ok: true; segment: AuditSegment } | VerifyFailure;

/**
 * Reads the segment starting with the first record entered at or after `from` (epoch ms), walking
 * it as `mdhub audit verify` does: a record altered, missing or out of order fails the read, so
 * what is handed to an auditor is a stretch the hub itself finds intact, ending at the head row.
 * Run it in one snapshot (a repeatable-read transaction) for the head to be the head of that view.
 */
export async function readAuditSegment(q: Queryable, from: number): Promise<ReadSegmentResult> {
  const { rows: heads } = await q.query<ChainHead>('select seq, hash from audit_head where id = 1');
  const headRow = heads[0];
  if (!headRow) return failure(null, 'missing', 'the audit_head row is missing');
  const { rows: firsts } = await q.query<{ seq: number; prevHash: string }>(
    `select seq, prev_hash as "prevHash" from audit_log
      where seq = (select min(seq) from audit_log where at >= $1)`,
    [from],
  );
  const first = firsts[0];
  if (!first) return { ok: true, segment: { anchor: headRow, records: [], head: headRow } };
  const anchor: ChainHead =
    first.seq === 1 ? { seq: 0, hash: GENESIS_HASH } : { seq: first.seq - 1, hash: first.prevHash };
  const records: StoredRecord[] = [];
  const walk = await walkChain(q, { start: anchor, observe: (record) => records.push(record) });
  if (!walk.ok) return walk;
  if (walk.head.seq !== headRow.seq || walk.head.hash !== headRow.hash) {
    return failure(
      Math.min(walk.head.seq, headRow.seq) + 1,
      walk.head.seq < headRow.seq ? 'missing' : 'altered',
      `the log ends at record ${walk.head.seq}, but the audit_head row names record ${headRow.seq} (${headRow.hash})`,
    );
  }
  return { ok: true, segment: { anchor, records, head: walk.head } };
}
