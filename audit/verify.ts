import type { Queryable } from '../platform/db/types.js';
import type { ChainHead } from './chain.js';
import { type Checkpoint, readCheckpoints } from './checkpoint.js';
import { type CheckpointOptions, loadCheckpointKey } from './checkpoint-key.js';
import { type Expectation, failure, type VerifyFailure, walkChain } from './walk.js';

export interface VerifyOptions {
  /** Where the signed checkpoints are; without it only the chain's own consistency is checked. */
  checkpoints?: CheckpointOptions;
  /** Records per query (default 10 000). */
  batchSize?: number;
}

export type VerifyResult =
  | { ok: true; records: number; checkpoints: number; head: ChainHead }
  | VerifyFailure;

/**
 * Verifies the whole log: every record's hash, every link, no gaps, and agreement with every
 * signed checkpoint and with the head row. The chain alone shows a record was touched; the
 * checkpoints show it even when someone with database access rewrote the chain from some record
 * on and recomputed every hash after it.
 */
export async function verifyAudit(db: Queryable, options: VerifyOptions = {}): Promise<VerifyResult> {
  let checkpoints: Checkpoint[] = [];
  if (options.checkpoints) {
    const key = await loadCheckpointKey(options.checkpoints, { create: false });
    const read = await readCheckpoints(options.checkpoints, key);
    if (!read.ok) return read;
    checkpoints = read.checkpoints;
  }
  // Read before the walk: records appended meanwhile only lengthen what the walk sees.
  const { rows } = await db.query<ChainHead>('select seq, hash from audit_head where id = 1');
  const headRow = rows[0];
  if (!headRow) return failure(null, 'missing', 'the audit_head row is missing');

  const expect = new Map<number, Expectation[]>();
  const vouch = (seq: number, expectation: Expectation) => {
    if (seq > 0) expect.set(seq, [...(expect.get(seq) ?? []), expectation]);
  };
  for (const checkpoint of checkpoints) {
    vouch(checkpoint.seq, {
      hash: checkpoint.hash,
      reason: 'checkpoint_mismatch',
      source: `the checkpoint signed at ${new Date(checkpoint.at).toISOString()}`,
    });
  }
  vouch(headRow.seq, { hash: headRow.hash, reason: 'altered', source: 'the audit_head row' });

  const walk = await walkChain(db, { expect, batchSize: options.batchSize });
  if (!walk.ok) return walk;
  const end = walk.head.seq;
  const furthest = checkpoints.reduce<Checkpoint | undefined>(
    (a, b) => (a && a.seq >= b.seq ? a : b),
    undefined,
  );
  if (furthest && furthest.seq > end) {
    return failure(
      end + 1,
      'checkpoint_mismatch',
      `the log ends at record ${end}, but the checkpoint signed at ${new Date(furthest.at).toISOString()} ` +
        `covers record ${furthest.seq}: records were deleted`,
    );
  }
  if (headRow.seq > end) {
    return failure(
      end + 1,
      'missing',
      `the log ends at record ${end}, but the audit_head row says it reached ${headRow.seq}: records were deleted`,
    );
  }
  return { ok: true, records: walk.records, checkpoints: checkpoints.length, head: walk.head };
}
