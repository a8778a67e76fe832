import { sign, verify } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { Queryable } from '../platform/db/types.js';
import type { HubContext, RunningRole } from '../platform/hub.js';
import { canonicalJson } from './canonical.js';
import { type ChainHead, GENESIS_HASH } from './chain.js';
import {
  type CheckpointKey,
  type CheckpointOptions,
  checkpointOptions,
  loadCheckpointKey,
} from './checkpoint-key.js';
import { failure, type VerifyFailure, walkChain } from './walk.js';

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

export const CHECKPOINT_FILE = 'checkpoints.jsonl';

export function checkpointFile(options: CheckpointOptions): string {
  return join(options.dir, CHECKPOINT_FILE);
}

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
 * Reads and checks every checkpoint line. Lines are trusted only when signed by `key`, the hub's
 * own: a forged line, or one signed by a key an intruder brought along, fails the read.
 */
export async function readCheckpoints(
  options: CheckpointOptions,
  key: CheckpointKey | undefined,
): Promise<ReadCheckpointsResult> {
  const file = checkpointFile(options);
  const stream = createReadStream(file, { encoding: 'utf8' });
  const opened = await new Promise<boolean>((resolve, reject) => {
    stream.once('ready', () => resolve(true));
    stream.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ENOENT' ? resolve(false) : reject(error),
    );
  });
  if (!opened) return { ok: true, checkpoints: [] };
  const checkpoints: Checkpoint[] = [];
  let number = 0;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    number++;
    if (line.trim() === '') continue;
    const where = `line ${number} of ${file}`;
    let parsed: z.infer<typeof LINE>;
    try {
      parsed = LINE.parse(JSON.parse(line));
    } catch {
      stream.destroy();
      return failure(null, 'bad_checkpoint', `${where} is not a checkpoint`);
    }
    const problem = distrust(parsed, key, where);
    if (problem) {
      stream.destroy();
      return failure(parsed.seq, 'bad_checkpoint', problem);
    }
    checkpoints.push(parsed);
  }
  return { ok: true, checkpoints };
}

/** Why a well-formed line cannot be trusted, or undefined when the hub's key signed it. */
function distrust(line: Checkpoint, key: CheckpointKey | undefined, where: string): string | undefined {
  if (!key) {
    return `there is no checkpoint key to check ${where} against (set MDHUB_AUDIT_KEY_FILE or restore the key)`;
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
  /** Write nothing when the log has not grown since `since` (periodic checkpoints). */
  onlyIfGrown?: boolean;
  /** Signing time, epoch ms (default now). */
  now?: number;
}

export type TakeCheckpointResult =
  | { ok: true; latest: Checkpoint | undefined; written: boolean; file: string }
  | VerifyFailure;

/**
 * Signs the log's current head and appends it to the checkpoint file. The records since the
 * previous checkpoint are verified first, so a checkpoint never vouches for a log tampered with
 * since the last one; the walk is short because it starts there.
 */
export async function takeCheckpoint(
  db: Queryable,
  options: CheckpointOptions,
  take: TakeCheckpointOptions,
): Promise<TakeCheckpointResult> {
  const file = checkpointFile(options);
  let since = take.since;
  if (!since) {
    const read = await readCheckpoints(options, take.key);
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
  if (take.onlyIfGrown && walk.head.seq === (since?.seq ?? 0))
    return { ok: true, latest: since, written: false, file };
  const checkpoint = signCheckpoint(take.key, walk.head, take.now ?? Date.now());
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  // One short append per line: O_APPEND keeps concurrent writers' lines whole.
  await appendFile(file, `${canonicalJson(checkpoint)}\n`);
  return { ok: true, latest: checkpoint, written: true, file };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}

/**
 * Checkpoints the log every `MDHUB_AUDIT_CHECKPOINT_MS` and once more on stop, for the `api`
 * role. A key that cannot be loaded stops the role from starting; a refused checkpoint (the log
 * fails verification) is logged as an error every time, so it alerts rather than stays silent.
 */
export async function startAuditCheckpoints(ctx: HubContext): Promise<RunningRole> {
  const { db, logger } = ctx;
  const options = checkpointOptions(ctx.env);
  const key = await loadCheckpointKey(options, { create: true });
  if (!key) throw new Error('audit checkpoint key could not be created');
  let last: Checkpoint | undefined;
  let running: Promise<void> | undefined;

  const run = async (): Promise<void> => {
    try {
      const result = await takeCheckpoint(db, options, { key, since: last, onlyIfGrown: true });
      if (!result.ok) {
        logger.error(
          { firstBad: result.firstBad, reason: result.reason },
          `audit checkpoint refused: ${result.message}`,
        );
        return;
      }
      last = result.latest;
      if (result.written && last)
        logger.info({ seq: last.seq, file: result.file }, 'audit checkpoint written');
    } catch (error) {
      logger.error({ err: error }, 'audit checkpoint failed');
    }
  };
  const tick = (): Promise<void> => {
    running ??= run().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => void tick(), ctx.env.MDHUB_AUDIT_CHECKPOINT_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
      await tick();
    },
  };
}
