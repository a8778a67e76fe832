/**
 * Events onto the bus's tick streams: one batch per shard (the caller gives the symbol's shard),
 * many events per stream entry. A batch goes out when the pending bytes reach `flushBytes` or
 * `lingerMs` after its first event, whichever comes first, so throughput and latency both stay
 * bounded. Trimming is the bus's (XADD MAXLEN).
 *
 * Memory stays bounded when the bus falls behind: at most `maxInFlight` publishes are
 * outstanding, and events beyond `maxPendingBytes` waiting behind them are dropped and counted.
 */

import type { TickStreams } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import { BatchWriter } from './codec.js';
import type { EventType, Tape } from './event.js';
import type { IngestHistograms } from './metrics.js';
import type { IngestStats } from './stats.js';

export interface PublisherOptions {
  ticks: TickStreams;
  stats: IngestStats;
  logger: Logger;
  histograms?: IngestHistograms;
  /**
   * Asked right before every bus write; false means this process may no longer publish (it lost
   * the feed lease), and what is pending is dropped instead.
   */
  mayPublish?: () => boolean;
  /** Wait at most this long after an event before publishing it (default 2 ms). */
  lingerMs?: number;
  /** Publish at once when this many bytes are pending over all shards (default 512 KiB). */
  flushBytes?: number;
  /** Publishes outstanding at once (default 4). */
  maxInFlight?: number;
  /** Pending bytes beyond which new events are dropped while the bus catches up (default 64 MiB). */
  maxPendingBytes?: number;
}

interface Counts {
  T: number;
  Q: number;
  A: number;
  AM: number;
  LULD: number;
}

const zero = (): Counts => ({ T: 0, Q: 0, A: 0, AM: 0, LULD: 0 });

export class Publisher {
  readonly #ticks: TickStreams;
  readonly #stats: IngestStats;
  readonly #logger: Logger;
  readonly #histograms: IngestHistograms | undefined;
  readonly #mayPublish: () => boolean;
  readonly #lingerMs: number;
  readonly #flushBytes: number;
  readonly #maxInFlight: number;
  readonly #maxPendingBytes: number;
  readonly #writers: BatchWriter[];
  readonly #shards: number;
  #pending = zero();
  #pendingEvents = 0;
  #pendingBytes = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  #idle: Array<() => void> = [];
  #onPublished: (() => void) | undefined;

  constructor(options: PublisherOptions) {
    this.#ticks = options.ticks;
    this.#stats = options.stats;
    this.#logger = options.logger;
    this.#histograms = options.histograms;
    this.#mayPublish = options.mayPublish ?? (() => true);
    this.#lingerMs = options.lingerMs ?? 2;
    this.#flushBytes = options.flushBytes ?? 512 * 1024;
    this.#maxInFlight = options.maxInFlight ?? 4;
    this.#maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.#shards = options.ticks.shards;
    this.#writers = Array.from({ length: this.#shards }, () => new BatchWriter());
  }

  /** Bytes encoded and not yet handed to the bus. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /**
   * Queues an event (routing keys, vendor time `t`, client JSON) for `shard` (the symbol's, from
   * `shardOf`).
   */
  add(type: EventType, tape: Tape, sym: string, t: number, json: string, shard: number): void {
    if (this.#pendingBytes >= this.#maxPendingBytes) {
      this.#stats.dropped.backpressure++;
      return;
    }
    const writer = this.#writers[shard]!;
    const before = writer.bytes;
    writer.append(type, tape, sym, t, json);
    this.#pendingBytes += writer.bytes - before;
    this.#pending[type]++;
    this.#pendingEvents++;
    if (this.#pendingBytes >= this.#flushBytes) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.#lingerMs);
  }

  /** Publishes what is pending now, unless `maxInFlight` publishes are outstanding already. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pendingEvents === 0 || this.#inFlight >= this.#maxInFlight) return;
    if (!this.#mayPublish()) {
      this.discard();
      return;
    }
    const formed = performance.now();
    const batches: Array<{ shard: number; payload: Buffer }> = [];
    let oldest = Number.POSITIVE_INFINITY;
    for (let shard = 0; shard < this.#shards; shard++) {
      const writer = this.#writers[shard]!;
      if (writer.count === 0) continue;
      if (writer.minT < oldest) oldest = writer.minT;
      batches.push({ shard, payload: writer.take() });
    }
    const counts = this.#pending;
    const events = this.#pendingEvents;
    this.#pending = zero();
    this.#pendingEvents = 0;
    this.#pendingBytes = 0;
    this.#inFlight++;
    this.#ticks.publish(batches).then(
      () => this.#published(batches.length, counts, formed, oldest),
      (error: unknown) => this.#failed(events, error),
    );
  }

  /** Drops everything pending, counted as `not_leader`: the lease is gone, none of it may reach the bus. */
  discard(): void {
    this.#stats.dropped.not_leader += this.#pendingEvents;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const writer of this.#writers) writer.clear();
    this.#pending = zero();
    this.#pendingEvents = 0;
    this.#pendingBytes = 0;
  }

  /** Calls `callback` once, when the bus next acknowledges a publish (a new term's first one). */
  whenPublished(callback: () => void): void {
    this.#onPublished = callback;
  }

  /** Publishes everything pending and resolves once the bus has acknowledged all of it. */
  async drain(): Promise<void> {
    for (;;) {
      this.flush();
      if (this.#inFlight === 0 && this.#pendingEvents === 0) return;
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
  }

  #published(entries: number, counts: Counts, formed: number, oldest: number): void {
    const published = this.#stats.published;
    for (const type of Object.keys(counts) as EventType[]) published[type] += counts[type];
    this.#stats.batches += entries;
    if (this.#onPublished !== undefined) {
      const callback = this.#onPublished;
      this.#onPublished = undefined;
      callback();
    }
    if (this.#histograms) {
      this.#histograms.publishSeconds.observe((performance.now() - formed) / 1000);
      this.#histograms.lagSeconds.observe(Math.max(0, Date.now() - oldest) / 1000);
    }
    if (this.#failing) {
      this.#failing = false;
      this.#logger.info('tick publishing recovered');
    }
    this.#settled();
  }

  #failed(events: number, error: unknown): void {
    this.#stats.publishErrors++;
    this.#stats.dropped.bus_error += events;
    if (!this.#failing) {
      this.#failing = true;
      this.#logger.warn({ err: error }, 'tick publishing failing; dropping batches until the bus answers');
    }
    this.#settled();
  }

  #settled(): void {
    this.#inFlight--;
    if (this.#pendingBytes >= this.#flushBytes) this.flush();
    else if (this.#pendingEvents > 0) this.#timer ??= setTimeout(() => this.flush(), this.#lingerMs);
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }
}
