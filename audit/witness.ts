import { join } from 'node:path';
import type { CheckpointOptions } from './checkpoint-key.js';
import { fileWitness } from './witness-file.js';
import { httpWitness } from './witness-http.js';

/**
 * Somewhere signed checkpoints are kept: the primary file beside the audit directory, and the
 * witnesses on storage the database host cannot rewrite. A witness only ever appends, so a
 * checkpoint it holds cannot be taken back by someone who rewrote the log and the primary file.
 */
export interface CheckpointStore {
  /** The variable that configures it, for messages: `MDHUB_AUDIT_WITNESS_DIR`. */
  readonly variable: string;
  /** Where it is: a file path or a URL without credentials. */
  readonly where: string;
  /** Keeps one checkpoint, given as its canonical JSON line (no newline). */
  append(line: string): Promise<void>;
  /** Every line it holds, oldest first; empty when it holds none yet. */
  lines(): AsyncIterable<string>;
}

export const CHECKPOINT_FILE = 'checkpoints.jsonl';

export function checkpointFile(options: CheckpointOptions): string {
  return join(options.dir, CHECKPOINT_FILE);
}

/** The primary checkpoint file, `<MDHUB_AUDIT_DIR>/checkpoints.jsonl`. */
export function primaryStore(options: CheckpointOptions): CheckpointStore {
  return fileWitness(checkpointFile(options), 'MDHUB_AUDIT_DIR', options.dir);
}

/** The configured witnesses: `MDHUB_AUDIT_WITNESS_DIR` and/or `MDHUB_AUDIT_WITNESS_URL`. */
export function witnessStores(options: CheckpointOptions): CheckpointStore[] {
  const stores: CheckpointStore[] = [];
  if (options.witnessDir !== undefined) {
    stores.push(
      fileWitness(join(options.witnessDir, CHECKPOINT_FILE), 'MDHUB_AUDIT_WITNESS_DIR', options.witnessDir),
    );
  }
  if (options.witnessUrl !== undefined) stores.push(httpWitness(options.witnessUrl));
  return stores;
}
