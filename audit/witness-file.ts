import { createReadStream } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { CheckpointStore } from './checkpoint-store.js';

/**
 * Checkpoints as JSON lines in a file: the primary `checkpoints.jsonl`, or a witness directory on
 * another host or a write-once mount. One short append per line: O_APPEND keeps the lines of
 * concurrent writers whole.
 */
export function fileWitness(file: string, variable: string, dir: string): CheckpointStore {
  return {
    variable,
    where: file,
    async append(line) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await appendFile(file, `${line}\n`);
    },
    async *lines() {
      const stream = createReadStream(file, { encoding: 'utf8' });
      const opened = await new Promise<boolean>((resolve, reject) => {
        stream.once('ready', () => resolve(true));
        stream.once('error', (error: NodeJS.ErrnoException) =>
          error.code === 'ENOENT' ? resolve(false) : reject(error),
        );
      });
      if (!opened) return;
      try {
        yield* createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
      } finally {
        stream.destroy();
      }
    },
  };
}
