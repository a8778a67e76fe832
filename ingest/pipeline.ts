/**
 * The path every vendor frame takes, whatever the feed: normalise → client JSON once (sliced from
 * the frame by the fast path, or serialised) → batch onto the bus, and remember the last quote and
 * trade per symbol. Plain synchronous code per event;
 * the only asynchronous steps are the batched bus writes.
 */
import type { Bus } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import { type EventType, type FeedEvent, symbolOf, type Tape, vendorTime } from './event.js';
import { serializeEvent } from './json.js';
import { LastValueCache } from './last-value.js';
import type { IngestHistograms } from './metrics.js';
import { Normalizer } from './normalize.js';
import { Publisher, type PublisherOptions } from './publisher.js';
import type { IngestStats } from './stats.js';
import { SymbolTable } from './symbols.js';

export interface PipelineOptions {
  bus: Bus;
  /** The tapes the catalog licenses; events on other tapes are skipped. */
  tapes: Iterable<number>;
  /** Whether aggregates are subscribed (see NormalizerOptions). */
  aggregates?: boolean;
  stats: IngestStats;
  logger: Logger;
  histograms?: IngestHistograms;
  /** Asked before every bus write (publisher and last-value cache). */
  mayPublish?: () => boolean;
  /** Vendor status elements found in frames. */
  onStatus?: (status: string, message: string) => void;
  /** Publisher tuning (batching, bounds). */
  publisher?: Pick<PublisherOptions, 'lingerMs' | 'flushBytes' | 'maxInFlight' | 'maxPendingBytes'>;
  /** Last-value cache write interval (default 100 ms). */
  lastValueIntervalMs?: number;
  /** Vendor times further ahead of the clock are dropped (see NormalizerOptions; default 5 000 ms). */
  maxClockSkewMs?: number;
  /** The ingest clock (default `Date.now`). */
  now?: () => number;
}

export class IngestPipeline {
  readonly normalizer: Normalizer;
  readonly publisher: Publisher;
  readonly lastValues: LastValueCache;

  constructor(options: PipelineOptions) {
    const { bus, stats, logger, mayPublish } = options;
    this.publisher = new Publisher({
      ticks: bus.ticks,
      stats,
      logger,
      histograms: options.histograms,
      mayPublish,
      ...options.publisher,
    });
    this.lastValues = new LastValueCache({
      kv: bus.kv,
      stats,
      logger,
      mayPublish,
      intervalMs: options.lastValueIntervalMs,
    });
    const publisher = this.publisher;
    const lastValues = this.lastValues;
    const symbols = new SymbolTable(bus.ticks.shards);
    const onStatus = options.onStatus;
    const encoded = (type: EventType, tape: Tape, sym: string, t: number, json: string) => {
      const slot = symbols.slot(sym);
      publisher.add(type, tape, sym, t, json, slot.shard);
      lastValues.update(slot, type, json);
    };
    this.normalizer = new Normalizer(
      {
        tapes: options.tapes,
        aggregates: options.aggregates,
        maxClockSkewMs: options.maxClockSkewMs,
        now: options.now,
      },
      {
        event(event: FeedEvent, tape: Tape) {
          encoded(event.ev, tape, symbolOf(event), vendorTime(event), serializeEvent(event));
        },
        encoded,
        status(status: string, message: string) {
          onStatus?.(status, message);
        },
      },
    );
  }

  /** One vendor WebSocket message (its `data`). */
  readonly frame = (data: unknown): void => this.normalizer.frame(data);
}
