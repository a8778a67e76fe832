import { sign, verify } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../platform/db/index.js';
import { appendAudit } from './append.js';
import { canonicalJson } from './canonical.js';
import { type ChainHead, GENESIS_HASH } from './chain.js';
import type { CheckpointKey, CheckpointOptions, VerifyKey } from './checkpoint-key.js';
import { failure, type VerifyFailure, walkChain } from './walk.js';
import { type CheckpointStore, checkpointFile, primaryStore, witnessStores } from './witness.js';
import { WitnessDelivery } from './witness-delivery.js';

/**
 * A signed statement that the log held record `seq` with hash `hash` at time `at`, kept outside
 * the database. Someone able to rewrite the whole chain, recomputing every hash, still cannot
 * make it agree with a checkpoint without this hub's private key.
 */
export interface Checkpoint {
  seq: number;
  hash: string;
  /** Epoch ms when it was signed. */
  at: number;
  /** Base64 SPKI DER of the Ed25519 public key that signed it. */
  publicKey: string;
  /** Base64 Ed25519 signature over the canonical JSON of `{at, hash, seq}`. */
  signature: string;
}

/**
 * Every checkpoint is also recorded in the chain, right after it is signed, so the log itself
 * says how many checkpoints exist and what they name: removing checkpoint lines, or the whole
 * file, then shows as checkpoints the log remembers and no file holds.
 */
export const CHECKPOINT_ACTION = 'audit.checkpoint';
export const CHECKPOINT_SUBJECT = 'audit:checkpoints';

function signedBytes(checkpoint: Pick<Checkpoint, 'seq' | 'hash' | 'at'>): Buffer {
  return Buffer.from(canonicalJson({ at: checkpoint.at, hash: checkpoint.hash, seq: checkpoint.seq }));
}

export function signCheckpoint(key: CheckpointKey, head: ChainHead, at: number): Checkpoint {
  const unsigned = { seq: head.seq, hash: head.hash, at };
  const signature = sign(null, signedBytes(unsigned), key.privateKey).toString('base64');
  return { ...unsigned, publicKey: key.publicKey, signature };
}

const LINE = z.object({
  seq: z.number().int().min(0),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.number().int().min(0),
  publicKey: z.string().min(1),
  signature: z.string().min(1),
});

export type ReadCheckpointsResult = { ok: true; checkpoints: Checkpoint[] } | VerifyFailure;

/**
 * Reads and checks every checkpoint a store holds. Lines are trusted only when signed by `key`,
 * the hub's own: a forged line, or one signed by a key an intruder brought along, fails the read.
 * A store that cannot be read (a witness that is down) fails with `witness_unavailable`.
 */
export async function readStore(
  store: CheckpointStore,
  key: VerifyKey | undefined,
): Promise<ReadCheckpointsResult> {
  const checkpoints: Checkpoint[] = [];
  let number = 0;
  try {
    for await (const line of store.lines()) {
      number++;
      if (line.trim() === '') continue;
      const where = `line ${number} of ${store.where}`;
      let parsed: z.infer<typeof LINE>;
      try {
        parsed = LINE.parse(JSON.parse(line));
      } catch {
        return failure(null, 'bad_checkpoint', `${where} is not a checkpoint`);
      }
      const problem = distrust(parsed, key, where);
      if (problem) return failure(parsed.seq, 'bad_checkpoint', problem);
      checkpoints.push(parsed);
    }
  } catch (error) {
    return failure(
      null,
      'witness_unavailable',
      `${store.variable} ${store.where} cannot be read: ${(error as Error).message}`,
    );
  }
  return { ok: true, checkpoints };
}

/** The primary file's checkpoints, `<MDHUB_AUDIT_DIR>/checkpoints.jsonl`. */
export function readCheckpoints(
  options: CheckpointOptions,
  key: VerifyKey | undefined,
): Promise<ReadCheckpointsResult> {
  return readStore(primaryStore(options), key);
}

/** Why a well-formed line cannot be trusted, or undefined when the hub's key signed it. */
function distrust(line: Checkpoint, key: VerifyKey | undefined, where: string): string | undefined {
  if (!key) {
    return `there is no checkpoint key to check ${where} against (set MDHUB_AUDIT_PUBLIC_KEY_FILE or MDHUB_AUDIT_KEY_FILE, or restore the key)`;
  }
  if (line.publicKey !== key.publicKey) {
    return `${where} is signed by a key that is not this hub's checkpoint key`;
  }
  const signature = Buffer.from(line.signature, 'base64');
  if (!verify(null, signedBytes(line), key.publicKeyObject, signature))
    return `${where} has a forged signature`;
  return undefined;
}

export interface TakeCheckpointOptions {
  key: CheckpointKey;
  /** The checkpoint to continue from; default the file's latest. */
  since?: Checkpoint;
  /** Signing time, epoch ms (default now). */
  now?: number;
  /**
   * Carries the checkpoint to the witnesses. Given (the hub's), delivery runs in the background
   * and retries; absent (the CLI), one is made for this checkpoint and awaited.
   */
  delivery?: WitnessDelivery;
}

export type TakeCheckpointResult =
  | {
      ok: true;
      latest: Checkpoint;
      file: string;
      /** Witnesses this checkpoint did not reach yet, one message each (awaited delivery only). */
      undelivered: string[];
    }
  | VerifyFailure;

/**
 * Signs the log's current head, appends it to the checkpoint file and the witnesses, and records
 * it in the chain. The records since the previous checkpoint are verified first, so a checkpoint
 * never vouches for a log tampered with since the last one; the walk is short because it starts
 * there.
 */
export async function takeCheckpoint(
  db: Db,
  options: CheckpointOptions,
  take: TakeCheckpointOptions,
): Promise<TakeCheckpointResult> {
  const primary = primaryStore(options);
  let since = take.since;
  if (!since) {
    const read = await readStore(primary, take.key);
    if (!read.ok) return read;
    since = read.checkpoints.at(-1);
  }
  if (since && since.seq > 0) {
    const { rows } = await db.query<{ hash: string }>('select hash from audit_log where seq = $1', [
      since.seq,
    ]);
    if (rows[0]?.hash !== since.hash) {
      const what = rows[0] ? 'differs from' : 'is missing, though named in';
      return failure(
        since.seq,
        'checkpoint_mismatch',
        `record ${since.seq} ${what} the checkpoint signed at ${iso(since.at)}`,
      );
    }
  }
  const walk = await walkChain(db, { start: since ?? { seq: 0, hash: GENESIS_HASH } });
  if (!walk.ok) return walk;
  const checkpoint = signCheckpoint(take.key, walk.head, take.now ?? Date.now());
  const line = canonicalJson(checkpoint);
  await primary.append(line);
  const delivery = take.delivery ?? new WitnessDelivery(witnessStores(options), primary);
  delivery.enqueue(line);
  await db.transaction((tx) =>
    appendAudit(tx, {
      actor: { type: 'system', id: 'audit' },
      action: CHECKPOINT_ACTION,
      subject: CHECKPOINT_SUBJECT,
      after: { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at },
      at: checkpoint.at,
    }),
  );
  let undelivered: string[] = [];
  if (!take.delivery) {
    await delivery.flush();
    undelivered = delivery.status().flatMap((w) => (w.error ? [w.error] : []));
  }
  return { ok: true, latest: checkpoint, file: checkpointFile(options), undelivered };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
