/**
 * The change relay: publishes the outbox (`changes.ts`) on the bus. Whoever commits a change calls
 * `flush()` right after, for speed; a periodic sweep publishes what a failed publish (Redis
 * refusing writes, a failover) or a crashed process left behind, and prunes old published rows.
 * Every process that makes changes runs one (the `api` role); edges do not depend on it for
 * correctness, only for speed — their own poll catches any change it has not published.
 */
import type { ControlChannel } from '../platform/bus/index.js';
import type { Db } from '../platform/db/index.js';
import type { Logger } from '../platform/logger.js';
import { silentLogger } from '../platform/logger.js';
import { pruneChanges, publishBatch } from './changes.js';

export interface ChangeRelayOptions {
  db: Db;
  /** `bus.control`: where `entitlements.changed` is published. */
  control: ControlChannel;
  logger?: Logger;
  /** Wall clock, epoch ms (default `Date.now`). */
  now?: () => number;
  /** Pause between sweeps, ms (default 1 000). */
  sweepMs?: number;
  /** How long published rows are kept, ms (default 86 400 000: a day). */
  retentionMs?: number;
  /** Rows published per query (default 500). */
  batchSize?: number;
}

export class ChangeRelay {
  readonly #db: Db;
  readonly #control: ControlChannel;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #sweepMs: number;
  readonly #retentionMs: number;
  readonly #batchSize: number;
  /** The pass in progress or queued last. */
  #running: Promise<void> | undefined;
  /** A pass queued behind the running one and not started yet. */
  #queued: Promise<void> | undefined;
  #failing = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ChangeRelayOptions) {
    this.#db = options.db;
    this.#control = options.control;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#sweepMs = options.sweepMs ?? 1_000;
    this.#retentionMs = options.retentionMs ?? 86_400_000;
    this.#batchSize = options.batchSize ?? 500;
  }

  /** Starts the sweep; its first pass runs at once, publishing whatever a crash left behind. */
  start(): void {
    const loop = async (): Promise<void> => {
      await this.sweep();
      if (this.#stopped) return;
      this.#timer = setTimeout(() => void loop(), this.#sweepMs);
      this.#timer.unref();
    };
    void loop();
  }

  /** One sweep: publishes what is unpublished, then prunes rows published before the retention. */
  async sweep(): Promise<void> {
    await this.flush();
    try {
      await pruneChanges(this.#db, this.#now() - this.#retentionMs);
    } catch (err) {
      this.#logger.warn({ err }, 'pruning published entitlement changes failed');
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * Publishes every unpublished change committed before the call. A call while a pass runs queues
   * one more pass after it (shared by every call made meanwhile), as that pass may have read the
   * outbox before the caller's commit. Never throws: what could not be published waits for the
   * sweep.
   */
  flush(): Promise<void> {
    if (this.#queued) return this.#queued;
    const next = (this.#running ?? Promise.resolve()).then(() => {
      this.#queued = undefined;
      return this.#drain();
    });
    this.#queued = next;
    this.#running = next;
    void next.then(() => {
      if (this.#running === next) this.#running = undefined;
    });
    return next;
  }

  async #drain(): Promise<void> {
    try {
      for (;;) {
        const { more } = await publishBatch(this.#db, this.#control, this.#now(), this.#batchSize);
        if (!more) break;
      }
      if (this.#failing) this.#logger.info('entitlement changes are being published again');
      this.#failing = false;
    } catch (err) {
      // Once per outage, not per attempt: the sweep retries every `sweepMs`.
      if (!this.#failing) {
        this.#logger.error({ err }, 'could not publish entitlements.changed; kept in the outbox, retrying');
      }
      this.#failing = true;
    }
  }
}

/** Publishes every unpublished change once, without a sweep: for one-off callers and tests. */
export function publishChanges(db: Db, control: ControlChannel, logger?: Logger): Promise<void> {
  return new ChangeRelay({ db, control, logger }).flush();
}
