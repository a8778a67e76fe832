/**
 * Exactly one live vendor connection per feed across every ingest process (Polygon allows one
 * per account): the process holding the bus lease runs the feed, the others stand by and poll.
 *
 * The holder also keeps a local deadline — when it sent its last successful renewal plus the TTL,
 * on the monotonic clock. The lease in the bus cannot expire before that instant (the bus started
 * its TTL later), so while `holds()` is true no other process can have taken over. Publishers ask
 * `holds()` right before every bus write: a leader whose event loop stalled past its deadline
 * finds out there, and stops at once instead of publishing alongside its successor.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Leases } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';

export interface LeaderLeaseOptions {
  leases: Leases;
  /** The lease name, one per feed (`ingest:polygon`). */
  name: string;
  logger: Logger;
  /** Called when this process becomes the leader. */
  onElected(): void;
  /** Called the moment this process stops being the leader, with why. */
  onDeposed(reason: string): void;
  /**
   * Lease time to live (default 750 ms). A dead leader is replaced between TTL − renewMs and
   * TTL + pollMs after it died; a leader stalled longer than TTL − renewMs deposes itself.
   */
  ttlMs?: number;
  /** How often the leader renews (default a third of the TTL: two renewals may fail in a row). */
  renewMs?: number;
  /** How often a standby tries to take the lease (default a sixth of the TTL). */
  pollMs?: number;
}

export const DEFAULT_LEASE_TTL_MS = 750;

/** The lease timings `options` leaves out, derived from its TTL. */
export function leaseTimings(options: Pick<LeaderLeaseOptions, 'ttlMs' | 'renewMs' | 'pollMs'> = {}): {
  ttlMs: number;
  renewMs: number;
  pollMs: number;
} {
  const ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  return {
    ttlMs,
    renewMs: options.renewMs ?? Math.max(1, Math.round(ttlMs / 3)),
    pollMs: options.pollMs ?? Math.max(1, Math.round(ttlMs / 6)),
  };
}

export class LeaderLease {
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  readonly #options: LeaderLeaseOptions;
  readonly #ttlMs: number;
  readonly #renewMs: number;
  readonly #pollMs: number;
  #leading = false;
  #deadline = 0;
  #timer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #attempt: Promise<void> | undefined;
  #stopped = true;

  constructor(options: LeaderLeaseOptions) {
    this.#options = options;
    ({ ttlMs: this.#ttlMs, renewMs: this.#renewMs, pollMs: this.#pollMs } = leaseTimings(options));
  }

  /** Whether this process is the leader right now; deposes it on the spot once the deadline passed. */
  holds(): boolean {
    if (!this.#leading) return false;
    if (performance.now() < this.#deadline) return true;
    this.#depose('lease deadline passed before renewal (event loop stalled or bus slow)');
    return false;
  }

  /** Whether this process was the leader at its last check (for metrics; does not depose). */
  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops renewing or polling and gives the lease up if held, so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#watchdog);
    await this.#attempt;
    if (!this.#leading) return;
    this.#leading = false;
    try {
      await this.#options.leases.release(this.#options.name, this.holder);
    } catch (error) {
      this.#options.logger.warn(
        { err: error, lease: this.#options.name },
        'could not release the feed lease',
      );
    }
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => {
      this.#attempt = this.#acquire();
    }, ms);
  }

  async #acquire(): Promise<void> {
    const { leases, name, logger } = this.#options;
    const sentAt = performance.now();
    let held: boolean;
    let failure: unknown;
    try {
      held = await leases.acquire(name, this.holder, this.#ttlMs);
    } catch (error) {
      held = false;
      failure = error;
    }
    if (this.#stopped) {
      // Taken while stopping: stop() releases it.
      if (held) this.#leading = true;
      return;
    }
    if (held) {
      this.#deadline = sentAt + this.#ttlMs;
      clearTimeout(this.#watchdog);
      this.#watchdog = setTimeout(() => this.holds(), this.#deadline - performance.now());
      if (!this.#leading) {
        this.#leading = true;
        logger.info({ lease: name, holder: this.holder }, 'took the feed lease: this process runs the feed');
        this.#options.onElected();
      }
    } else if (this.#leading) {
      this.#depose(
        failure === undefined ? 'lease taken by another process' : 'lease renewal failed',
        failure,
      );
    } else if (failure !== undefined) {
      logger.debug({ err: failure, lease: name }, 'feed lease poll failed');
    }
    if (!this.#stopped) this.#schedule(this.#leading ? this.#renewMs : this.#pollMs);
  }

  #depose(reason: string, error?: unknown): void {
    this.#leading = false;
    clearTimeout(this.#watchdog);
    this.#options.logger.warn(
      { lease: this.#options.name, reason, err: error },
      'lost the feed lease: standing by',
    );
    this.#options.onDeposed(reason);
  }
}
