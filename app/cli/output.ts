import { rename, writeFile } from 'node:fs/promises';

/**
 * A command's output: to stdout, or to `out` written beside it and renamed into place, so a reader
 * never sees half a file.
 */
export async function writeOutput(out: string | undefined, body: string | Uint8Array): Promise<void> {
  if (out === undefined) {
    process.stdout.write(body);
    return;
  }
  const partial = `${out}.partial-${process.pid}`;
  await writeFile(partial, body);
  await rename(partial, out);
}
