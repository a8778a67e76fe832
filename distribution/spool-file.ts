/**
 * The usage spool's file: every usage event is appended here, one JSON line, and synced to disk
 * before the spool sends it to the bus; the file is emptied (or rewritten with what is still
 * waiting) once the bus has stored the events. A process that dies while the bus is unreachable
 * — SIGKILL, a crash, a forced exit — leaves its events here, and the next edge to take the file
 * replays them. Replaying an event the bus or the ledger already has is harmless: the ledger
 * counts each event id once.
 *
 * Writes are grouped: every line pushed while the previous write and sync were under way goes out
 * in the next single write and `fdatasync`, so the cost is one sync per batch, not per event.
 *
 * One file belongs to one edge at a time: `<name>.lock` beside it holds the owner's pid. A lock
 * whose process is gone (SIGKILL) is taken over; a live one is never shared. Without a fixed
 * name (`MDHUB_EDGE_ID`) an edge takes the first free of `edge`, `edge-2`, `edge-3`, …, so edges
 * started side by side on one host each get a file, and a restarted one finds what it left.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { type FileHandle, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../platform/logger.js';
import { parseUsageEvent } from '../usage/index.js';

export interface SpoolFileOptions {
  /** Directory of the spool files (`MDHUB_SPOOL_DIR`, default `MDHUB_DATA_DIR/spool`). */
  dir: string;
  /**
   * The file's name without `.jsonl`: the edge id when the operator fixed it; none: the first free
   * of `edge`, `edge-2`, ….
   */
  name?: string;
  logger: Logger;
}

/** Lock files this process holds, so two edges in one process never share a file either. */
const held = new Set<string>();

/** Free slots tried before giving up (an edge per slot on one host). */
const MAX_SLOTS = 1_000;

function alive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes `<base>.lock`; false when another live edge holds it. */
function tryLock(lockPath: string): boolean {
  if (held.has(lockPath)) return false;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held.add(lockPath);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = Number.NaN;
    try {
      owner = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
    } catch {
      // Removed meanwhile: try again.
    }
    if (Number.isInteger(owner) && alive(owner)) return false;
    // Left by a process that is gone: take it over.
    try {
      unlinkSync(lockPath);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return false;
}

export class SpoolFile {
  readonly path: string;
  /** Events a previous run left, oldest first, each once, as JSON lines. */
  readonly replayed: readonly string[];
  readonly #lockPath: string;
  readonly #logger: Logger;
  #fd: FileHandle;
  /** Lines pushed and not yet written. */
  #pending: string[] = [];
  /** File operations, one at a time, in order. */
  #chain: Promise<void> = Promise.resolve();
  #failing = false;
  #closed = false;
  /** Bytes in the file. */
  bytes: number;

  private constructor(
    path: string,
    lockPath: string,
    fd: FileHandle,
    replayed: string[],
    bytes: number,
    logger: Logger,
  ) {
    this.path = path;
    this.#lockPath = lockPath;
    this.#fd = fd;
    this.replayed = replayed;
    this.bytes = bytes;
    this.#logger = logger;
  }

  /**
   * Takes a spool file (creating the directory), reads what it holds and rewrites it without the
   * lines that cannot be read — a line cut short by a crash mid-write is skipped with a warning.
   */
  static async open(options: SpoolFileOptions): Promise<SpoolFile> {
    const { dir, logger } = options;
    mkdirSync(dir, { recursive: true });
    let base: string | undefined;
    if (options.name !== undefined) {
      if (tryLock(join(dir, `${options.name}.lock`))) base = options.name;
      else
        throw new Error(
          `the usage spool ${join(dir, `${options.name}.jsonl`)} is in use by another edge: give each edge its own MDHUB_EDGE_ID`,
        );
    } else {
      for (let slot = 1; slot <= MAX_SLOTS && base === undefined; slot++) {
        const candidate = slot === 1 ? 'edge' : `edge-${slot}`;
        if (tryLock(join(dir, `${candidate}.lock`))) base = candidate;
      }
      if (base === undefined) throw new Error(`no free usage spool file in ${dir} (MDHUB_SPOOL_DIR)`);
    }
    const path = join(dir, `${base}.jsonl`);
    const lockPath = join(dir, `${base}.lock`);
    try {
      const replayed = await readSpool(path, logger);
      const text = replayed.length === 0 ? '' : `${replayed.join('\n')}\n`;
      await replaceFile(path, text);
      const fd = await open(path, 'a');
      await fd.datasync();
      if (replayed.length > 0)
        logger.warn(
          { path, events: replayed.length },
          'replaying usage events a previous run left in the spool',
        );
      return new SpoolFile(path, lockPath, fd, replayed, Buffer.byteLength(text), logger);
    } catch (error) {
      release(lockPath);
      throw error;
    }
  }

  /** Queues a line for the next write. */
  append(line: string): void {
    this.#pending.push(line);
  }

  /** Writes and syncs every line appended so far; resolves once they are on disk (or failed, logged). */
  sync(): Promise<void> {
    return this.#enqueue(async () => {
      if (this.#pending.length === 0) return;
      const lines = this.#pending;
      this.#pending = [];
      const data = `${lines.join('\n')}\n`;
      await this.#fd.write(data);
      await this.#fd.datasync();
      this.bytes += Buffer.byteLength(data);
    });
  }

  /**
   * Makes the file hold exactly `waiting()` (read when the operation runs, so it sees every line
   * appended meanwhile): emptied when nothing waits, else rewritten and swapped in atomically.
   */
  compact(waiting: () => readonly string[]): Promise<void> {
    return this.#enqueue(async () => {
      const lines = waiting();
      // Every line not yet written is among those waiting: this write covers it.
      this.#pending = [];
      if (lines.length === 0) {
        await this.#fd.truncate(0);
        this.bytes = 0;
        return;
      }
      const data = `${lines.join('\n')}\n`;
      await replaceFile(this.path, data);
      const fd = await open(this.path, 'a');
      await this.#fd.close();
      this.#fd = fd;
      this.bytes = Buffer.byteLength(data);
    });
  }

  /** Writes what is pending, closes the file (kept if events still wait in it) and releases it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.sync();
    this.#closed = true;
    await this.#chain;
    await this.#fd.close();
    release(this.#lockPath);
  }

  #enqueue(operation: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      if (this.#closed) return;
      try {
        await operation();
        if (this.#failing) this.#logger.info({ path: this.path }, 'the usage spool file is written again');
        this.#failing = false;
      } catch (err) {
        // The events are still held in memory and still sent; only a crash before then loses them.
        if (!this.#failing) this.#logger.error({ err, path: this.path }, 'cannot write the usage spool file');
        this.#failing = true;
      }
    });
    return this.#chain;
  }
}

/** Writes `data` to `path` through a synced temporary file and a rename, so a crash leaves the old or the new. */
async function replaceFile(path: string, data: string): Promise<void> {
  const tmp = await open(`${path}.tmp`, 'w');
  try {
    await tmp.write(data);
    await tmp.datasync();
  } finally {
    await tmp.close();
  }
  await rename(`${path}.tmp`, path);
}

function release(lockPath: string): void {
  held.delete(lockPath);
  try {
    unlinkSync(lockPath);
  } catch {
    // Already gone: nothing to release.
  }
}

/** The readable events of a spool file, each id once; unreadable lines are skipped with a warning. */
async function readSpool(path: string, logger: Logger): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const lines: string[] = [];
  const ids = new Set<string>();
  let skipped = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const { id } = parseUsageEvent(line);
      if (ids.has(id)) continue;
      ids.add(id);
      lines.push(line);
    } catch {
      skipped++;
    }
  }
  if (skipped > 0)
    logger.warn(
      { path, skipped },
      'skipped unreadable lines in the usage spool (a write cut short by a crash)',
    );
  return lines;
}
