/**
 * Usage events on their way to the bus. An event is removed only once the bus has stored it; while
 * the bus is unreachable events wait here and are retried with backoff. A retry after a lost
 * acknowledgement may store an event twice: the ledger keeps one per id.
 *
 * With a file (spool-file.ts) every event is on disk before it is sent and stays there until the
 * bus stored it, so a process that dies meanwhile loses none of them: the next start replays them.
 *
 * The bound is a policy, not a drop: once `max` events wait, `full` is true and the producers of
 * unbounded volume hold back (REST queries are refused, counter flushes wait, their counts staying
 * in the counters), while session and first-access events, bounded by the sessions and users
 * themselves, are still queued.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkStream } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import type { UsageEvent } from '../usage/index.js';
import type { SpoolFile } from './spool-file.js';

export interface UsageSpoolOptions {
  stream: WorkStream;
  /** Events waiting at which `full` turns true. */
  max: number;
  logger: Logger;
  /** Where events are kept until the bus stored them; none: in memory only. Its replayed events are sent first. */
  file?: SpoolFile;
  /** First retry pause (default 200 ms), doubling up to `maxRetryMs` (default 5 000 ms). */
  retryMs?: number;
  maxRetryMs?: number;
}

/** Events per XADD pipeline. */
const BATCH = 500;
/** Events stored by the bus, while others still wait, after which the file is rewritten without them. */
const COMPACT_AFTER = 10_000;

export class UsageSpool {
  readonly #stream: WorkStream;
  readonly #max: number;
  readonly #logger: Logger;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #file: SpoolFile | undefined;
  /** Encoded events, oldest first. */
  readonly #queue: string[] = [];
  #sending: Promise<void> | undefined;
  #failing = false;
  #reportedFull = false;
  #closed = false;
  /** Events stored by the bus since the file was last compacted. */
  #sentSinceCompact = 0;
  /** Events stored by the bus since start. */
  sent = 0;

  constructor(options: UsageSpoolOptions) {
    this.#stream = options.stream;
    this.#max = options.max;
    this.#logger = options.logger;
    this.#retryMs = options.retryMs ?? 200;
    this.#maxRetryMs = options.maxRetryMs ?? 5_000;
    this.#file = options.file;
    if (this.#file !== undefined && this.#file.replayed.length > 0) {
      this.#queue.push(...this.#file.replayed);
      this.#sending = this.#send();
    }
  }

  get size(): number {
    return this.#queue.length;
  }

  get full(): boolean {
    return this.#queue.length >= this.#max;
  }

  /** Bytes in the spool file (0 without one). */
  get fileBytes(): number {
    return this.#file?.bytes ?? 0;
  }

  push(event: UsageEvent): void {
    const line = JSON.stringify(event);
    this.#queue.push(line);
    this.#file?.append(line);
    if (!this.#reportedFull && this.full) {
      this.#reportedFull = true;
      this.#logger.error(
        { waiting: this.#queue.length, file: this.#file?.path },
        'the usage spool is full: REST queries are refused and counter flushes wait until the bus takes events',
      );
    }
    this.#sending ??= this.#send();
  }

  /** Waits until every queued event is stored or `timeoutMs` passes; resolves to what is left. */
  async drain(timeoutMs: number): Promise<number> {
    if (this.#queue.length > 0) this.#sending ??= this.#send();
    if (this.#sending !== undefined) {
      const timer = sleep(timeoutMs, undefined, { ref: false });
      await Promise.race([this.#sending, timer]);
    }
    return this.#queue.length;
  }

  /** Writes what the file still lacks and releases it; events still waiting stay in it for the next start. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#file?.close();
  }

  async #send(): Promise<void> {
    let pause = this.#retryMs;
    // Yield first so events pushed in the same turn go out in one pipeline.
    await Promise.resolve();
    while (this.#queue.length > 0 && !this.#closed) {
      const batch = this.#queue.slice(0, BATCH);
      try {
        // On disk before the bus has it: whatever the bus has not stored survives a crash.
        await this.#file?.sync();
        await this.#stream.add(batch);
        this.#queue.splice(0, batch.length);
        this.sent += batch.length;
        this.#stored(batch.length);
        pause = this.#retryMs;
        if (this.#failing)
          this.#logger.info({ waiting: this.#queue.length }, 'usage events reach the bus again');
        this.#failing = false;
      } catch (err) {
        if (!this.#failing) {
          this.#logger.error(
            { err, waiting: this.#queue.length },
            'usage events cannot reach the bus; retrying',
          );
        }
        this.#failing = true;
        await sleep(pause, undefined, { ref: false });
        pause = Math.min(pause * 2, this.#maxRetryMs);
      }
    }
    this.#sending = undefined;
  }

  /** Keeps the file to what still waits: emptied once nothing does, rewritten now and then while the backlog drains. */
  #stored(count: number): void {
    if (!this.full) this.#reportedFull = false;
    if (this.#file === undefined) return;
    this.#sentSinceCompact += count;
    if (this.#queue.length > 0 && this.#sentSinceCompact < COMPACT_AFTER) return;
    this.#sentSinceCompact = 0;
    void this.#file.compact(() => this.#queue);
  }
}
