import { join } from 'node:path';
import type { CheckpointOptions } from './checkpoint-key.js';
import type { CheckpointStore } from './checkpoint-store.js';
import { fileWitness } from './witness-file.js';
import { httpWitness } from './witness-http.js';

export type { CheckpointStore } from './checkpoint-store.js';

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
