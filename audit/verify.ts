import type { Queryable } from '../platform/db/index.js';
import type { ChainHead, StoredRecord } from './chain.js';
import { CHECKPOINT_ACTION, type Checkpoint, readStore } from './checkpoint.js';
import { type CheckpointOptions, loadVerifyKey } from './checkpoint-key.js';
import { type Expectation, failure, type VerifyFailure, walkChain } from './walk.js';
import { primaryStore, witnessStores } from './witness.js';

export interface VerifyOptions {
  /** Where the signed checkpoints are; without it only the chain's own consistency is checked. */
  checkpoints?: CheckpointOptions;
  /**
   * How often checkpoints are due (`MDHUB_AUDIT_CHECKPOINT_MS`). Given, a log whose first record is
   * older than twice this and that has no checkpoint anywhere fails `checkpoints_missing`.
   */
  checkpointIntervalMs?: number;
  /** The clock for that rule, epoch ms (default now). */
  now?: number;
  /** Records per query (default 10 000). */
  batchSize?: number;
}

/** What one witness holds, beside the primary file. */
export interface WitnessReport {
  variable: string;
  where: string;
  checkpoints: number;
  /** Checkpoints of the primary file this witness lacks: not yet delivered (the hub retries). */
  behind: number;
}

export type VerifyResult =
  | { ok: true; records: number; checkpoints: number; head: ChainHead; witnesses: WitnessReport[] }
  | VerifyFailure;

interface Source {
  variable: string;
  where: string;
  checkpoints: Checkpoint[];
}

/** A chain record saying a checkpoint was signed. */
interface Remembered {
  recordSeq: number;
  seq: number;
  hash: string;
  at: number;
}

/**
 * Verifies the whole log: every record's hash, every link, no gaps, and agreement with every
 * signed checkpoint (the primary file's and every witness's) and with the head row. The chain
 * alone shows a record was touched; the checkpoints show it even when someone with database
 * access rewrote the chain and recomputed every hash, or cut its tail and wound the head back.
 * And the checkpoints are themselves counted: by the chain, which records each one, and by the
 * witnesses, which the database host cannot rewrite.
 */
export async function verifyAudit(db: Queryable, options: VerifyOptions = {}): Promise<VerifyResult> {
  const sources: Source[] = [];
  if (options.checkpoints) {
    const key = await loadVerifyKey(options.checkpoints);
    for (const store of [primaryStore(options.checkpoints), ...witnessStores(options.checkpoints)]) {
      const read = await readStore(store, key);
      if (!read.ok) return read;
      sources.push({ variable: store.variable, where: store.where, checkpoints: read.checkpoints });
    }
  }
  // Every source is signed by the hub, so each line counts wherever it is kept: the longest history.
  const all = new Map<string, Checkpoint>();
  for (const source of sources) for (const c of source.checkpoints) all.set(c.signature, c);
  const checkpoints = [...all.values()];

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
      source: `the checkpoint signed at ${iso(checkpoint.at)}`,
    });
  }
  vouch(headRow.seq, { hash: headRow.hash, reason: 'altered', source: 'the audit_head row' });

  const remembered: Remembered[] = [];
  let firstAt: number | undefined;
  const observe = (record: StoredRecord) => {
    firstAt ??= record.at;
    if (record.action === CHECKPOINT_ACTION && record.after !== null) {
      const named = JSON.parse(record.after) as { seq: number; hash: string; at: number };
      remembered.push({ recordSeq: record.seq, seq: named.seq, hash: named.hash, at: named.at });
    }
  };
  const walk = await walkChain(db, { expect, batchSize: options.batchSize, observe });
  if (!walk.ok) return walk;
  const end = walk.head.seq;
  const furthest = checkpoints.reduce<Checkpoint | undefined>(
    (a, b) => (a && a.seq >= b.seq ? a : b),
    undefined,
  );
  if (furthest && furthest.seq > end) {
    return failure(
      end + 1,
      'truncated',
      `the log ends at record ${end}, but the checkpoint signed at ${iso(furthest.at)} covers record ` +
        `${furthest.seq}: its tail was cut`,
    );
  }
  if (headRow.seq > end) {
    return failure(
      end + 1,
      'missing',
      `the log ends at record ${end}, but the audit_head row says it reached ${headRow.seq}: records were deleted`,
    );
  }
  const missing = missingCheckpoints(sources, checkpoints, remembered, options, firstAt);
  if (missing) return missing;
  const [primary, ...witnesses] = sources;
  const held = new Set(primary?.checkpoints.map((c) => c.signature));
  return {
    ok: true,
    records: walk.records,
    checkpoints: checkpoints.length,
    head: walk.head,
    witnesses: witnesses.map((w) => {
      const has = new Set(w.checkpoints.map((c) => c.signature));
      return {
        variable: w.variable,
        where: w.where,
        checkpoints: w.checkpoints.length,
        behind: [...held].filter((signature) => !has.has(signature)).length,
      };
    }),
  };
}

/**
 * Checkpoints that once existed and are gone: named by a chain record but held by no source, held
 * by a witness but not by the primary file (it was cut or replaced), or none at all for a log
 * that has been due one for long.
 */
function missingCheckpoints(
  sources: readonly Source[],
  checkpoints: readonly Checkpoint[],
  remembered: readonly Remembered[],
  options: VerifyOptions,
  firstAt: number | undefined,
): VerifyFailure | undefined {
  const named = new Set(checkpoints.map((c) => `${c.seq} ${c.hash} ${c.at}`));
  const lost = remembered.filter((r) => !named.has(`${r.seq} ${r.hash} ${r.at}`));
  const first = lost[0];
  if (first) {
    return failure(
      first.recordSeq,
      'checkpoints_missing',
      `record ${first.recordSeq} says a checkpoint over record ${first.seq} was signed at ${iso(first.at)}, ` +
        `but no checkpoint file or witness holds it (${lost.length} of ${remembered.length} ` +
        'checkpoints the log records are gone): checkpoints were removed',
    );
  }
  const [primary, ...witnesses] = sources;
  if (primary) {
    const held = new Set(primary.checkpoints.map((c) => c.signature));
    for (const witness of witnesses) {
      const extra = witness.checkpoints.filter((c) => !held.has(c.signature));
      if (extra.length > 0) {
        return failure(
          null,
          'checkpoints_missing',
          `${witness.variable} ${witness.where} holds ${extra.length} checkpoints that ${primary.where} lacks ` +
            `(${witness.checkpoints.length} against ${primary.checkpoints.length}): checkpoint lines were removed`,
        );
      }
    }
  }
  const interval = options.checkpointIntervalMs;
  if (interval !== undefined && sources.length > 0 && checkpoints.length === 0 && firstAt !== undefined) {
    const now = options.now ?? Date.now();
    if (firstAt < now - 2 * interval) {
      return failure(
        null,
        'checkpoints_missing',
        `the log has records since ${iso(firstAt)} but no signed checkpoint anywhere, though one is due ` +
          `every ${interval} ms: the checkpoint file was removed, or the hub does not checkpoint`,
      );
    }
  }
  return undefined;
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
