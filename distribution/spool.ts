/**
 * Usage events on their way to the bus. An event is removed only once the bus has stored it; while
 * the bus is unreachable events wait here and are retried with backoff. A retry after a lost
 * acknowledgement may store an event twice: the ledger keeps one per id.
 *
 * The bound is a policy, not a drop: once `max` events wait, `full` is true and the producers of
 * unbounded volume hold back (REST queries are refused, counter flushes wait, their counts staying
 * in the counters), while session and first-access events, bounded by the sessions and users
 * themselves, are still queued.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkStream } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import type { UsageEvent } from './usage-event.js';

export interface UsageSpoolOptions {
  stream: WorkStream;
  /** Events waiting at which `full` turns true. */
  max: number;
  logger: Logger;
  /** First retry pause (default 200 ms), doubling up to `maxRetryMs` (default 5 000 ms). */
  retryMs?: number;
  maxRetryMs?: number;
}

/** Events per XADD pipeline. */
const BATCH = 500;

export class UsageSpool {
  readonly #stream: WorkStream;
  readonly #max: number;
  readonly #logger: Logger;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  /** Encoded events, oldest first. */
  readonly #queue: string[] = [];
  #sending: Promise<void> | undefined;
  #failing = false;
  /** Events stored by the bus since start. */
  sent = 0;

  constructor(options: UsageSpoolOptions) {
    this.#stream = options.stream;
    this.#max = options.max;
    this.#logger = options.logger;
    this.#retryMs = options.retryMs ?? 200;
    this.#maxRetryMs = options.maxRetryMs ?? 5_000;
  }

  get size(): number {
    return this.#queue.length;
  }

  get full(): boolean {
    return this.#queue.length >= this.#max;
  }

  push(event: UsageEvent): void {
    this.#queue.push(JSON.stringify(event));
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

  async #send(): Promise<void> {
    let pause = this.#retryMs;
    // Yield first so events pushed in the same turn go out in one pipeline.
    await Promise.resolve();
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, BATCH);
      try {
        await this.#stream.add(batch);
        this.#queue.splice(0, batch.length);
        this.sent += batch.length;
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
}
