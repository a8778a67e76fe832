import type { Queryable, QueryResult } from '../platform/db/index.js';
import { type ChainHead, GENESIS_HASH, recordHash, STORED_COLUMNS, type StoredRecord } from './chain.js';

/**
 * Why a verification failed, as a machine code:
 * - `altered`: a record's content does not hash to its stored hash (or to what the head row says);
 * - `missing`: a sequence number is absent (a record was deleted), or the log ends early;
 * - `reordered`: a record does not link to the one before it (records moved, or one replaced
 *   together with its hash);
 * - `checkpoint_mismatch`: a signed checkpoint names a different hash than the log has;
 * - `truncated`: a signed checkpoint names a record beyond the log's end: its tail was cut;
 * - `checkpoints_missing`: checkpoints the log or a witness remembers are in no checkpoint file,
 *   or an old log has none at all;
 * - `bad_checkpoint`: a checkpoint line is unreadable, unsigned by this hub's key, or forged;
 * - `witness_unavailable`: a configured witness cannot be read, so the log cannot be checked against it.
 */
export type VerifyReason =
  | 'altered'
  | 'missing'
  | 'reordered'
  | 'checkpoint_mismatch'
  | 'truncated'
  | 'checkpoints_missing'
  | 'bad_checkpoint'
  | 'witness_unavailable';

export interface VerifyFailure {
  ok: false;
  /** The first record found bad; null when the fault is in the checkpoint file, not the log. */
  firstBad: number | null;
  reason: VerifyReason;
  /** One line a person understands. */
  message: string;
}

/** A hash some trusted source vouches for at a sequence: a signed checkpoint or the head row. */
export interface Expectation {
  hash: string;
  reason: 'altered' | 'checkpoint_mismatch';
  /** Names the source in the failure message, e.g. `the checkpoint signed at 2026-…`. */
  source: string;
}

export interface WalkOptions {
  /** Where to start: the records after this one are checked. Default: the genesis. */
  start?: ChainHead;
  /** Hashes that records must have, by sequence. */
  expect?: ReadonlyMap<number, readonly Expectation[]>;
  /** Records per query (default 10 000). */
  batchSize?: number;
  /** Sees every record found good, in order. */
  observe?: (record: StoredRecord) => void;
}

export type WalkResult = { ok: true; head: ChainHead; records: number } | VerifyFailure;

export function failure(firstBad: number | null, reason: VerifyReason, message: string): VerifyFailure {
  return { ok: false, firstBad, reason, message };
}

/**
 * Walks the log in sequence order, in keyset-paginated batches so memory stays flat whatever the
 * log's size; the next batch is already on its way while the current one is hashed. The first
 * bad record ends the walk.
 */
export async function walkChain(db: Queryable, options: WalkOptions = {}): Promise<WalkResult> {
  const batchSize = options.batchSize ?? 10_000;
  const expect = options.expect ?? new Map<number, readonly Expectation[]>();
  const fetch = (after: number): Promise<QueryResult<StoredRecord>> =>
    db.query<StoredRecord>(`select ${STORED_COLUMNS} from audit_log where seq > $1 order by seq limit $2`, [
      after,
      batchSize,
    ]);
  let head: ChainHead = options.start ?? { seq: 0, hash: GENESIS_HASH };
  let records = 0;
  let next: Promise<QueryResult<StoredRecord>> | undefined = fetch(head.seq);
  try {
    while (next) {
      const rows: StoredRecord[] = (await next).rows;
      const last: StoredRecord | undefined = rows[rows.length - 1];
      next = last && rows.length === batchSize ? fetch(last.seq) : undefined;
      for (const record of rows) {
        const fault = check(record, head, expect);
        if (fault) return fault;
        options.observe?.(record);
        head = { seq: record.seq, hash: record.hash };
        records++;
      }
    }
    return { ok: true, head, records };
  } finally {
    // A walk that stopped early still owns the prefetch; its outcome no longer matters.
    await next?.catch(() => undefined);
  }
}

function check(
  record: StoredRecord,
  previous: ChainHead,
  expect: ReadonlyMap<number, readonly Expectation[]>,
): VerifyFailure | undefined {
  const seq = previous.seq + 1;
  if (record.seq !== seq) {
    const gap = record.seq === seq + 1 ? `record ${seq} is` : `records ${seq} to ${record.seq - 1} are`;
    return failure(seq, 'missing', `${gap} missing from the log`);
  }
  // The link is checked before the content: a record moved from elsewhere also fails its hash
  // (the sequence is hashed), but "does not follow record n-1" says what happened.
  if (record.prevHash !== previous.hash) {
    return failure(
      seq,
      'reordered',
      `record ${seq} does not link to record ${previous.seq}: records were reordered or record ${previous.seq} was replaced`,
    );
  }
  if (recordHash(record) !== record.hash) {
    return failure(seq, 'altered', `record ${seq} was altered: its content does not match its hash`);
  }
  for (const expected of expect.get(seq) ?? []) {
    if (expected.hash !== record.hash) {
      return failure(
        seq,
        expected.reason,
        `record ${seq} differs from ${expected.source}: the log was rewritten`,
      );
    }
  }
  return undefined;
}
