/**
 * The path every vendor frame takes, whatever the feed: normalise → client JSON once (sliced from
 * the frame by the fast path, or serialised) → batch onto the bus, and remember the last quote and
 * trade per symbol; every trade also goes into the bar builder, whose bars take the same way onto
 * the bus and into the bar store. Plain synchronous code per event;
 * the only asynchronous steps are the batched bus writes.
 *
 * Vendor bars (`A`, `AM` subscribed at Polygon) are validated and counted but not published: the
 * hub's own bars, built from the same trades, are the ones clients get, so a symbol never has two.
 */
import type { Bus } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import { BarStore } from './bar-store.js';
import { BarBuilder } from './bars.js';
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
  /** Bar store write interval (default 1 000 ms). */
  barStoreIntervalMs?: number;
  /** How long after a bar's end late trades may still make it (default 200 ms). */
  barGraceMs?: number;
}

/** A trade's price, size and conditions, read from its client JSON (fields in serializeEvent's order). */
const tradeCodes: number[] = [];
function readTrade(json: string): { p: number; s: number } | undefined {
  const p = json.indexOf(',"p":');
  if (p < 0) return undefined;
  const sAt = json.indexOf(',"s":', p + 5);
  const after = json.indexOf(',', sAt + 5);
  if (sAt < 0 || after < 0) return undefined;
  tradeCodes.length = 0;
  const c = json.indexOf(',"c":[', after);
  if (c >= 0) {
    let code = 0;
    let digits = 0;
    for (let k = c + 6; k < json.length; k++) {
      const ch = json.charCodeAt(k);
      if (ch >= 0x30 && ch <= 0x39) {
        code = code * 10 + ch - 0x30;
        digits++;
        continue;
      }
      if (digits > 0) tradeCodes.push(code);
      code = 0;
      digits = 0;
      if (ch === 0x5d) break;
    }
  }
  scratch.p = Number(json.slice(p + 5, sAt));
  scratch.s = Number(json.slice(sAt + 5, after));
  return scratch;
}
const scratch = { p: 0, s: 0 };

export class IngestPipeline {
  readonly normalizer: Normalizer;
  readonly publisher: Publisher;
  readonly lastValues: LastValueCache;
  readonly bars: BarBuilder;
  readonly barStore: BarStore;
  readonly #now: () => number;
  #barTimer: NodeJS.Timeout | undefined;

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
    this.#now = options.now ?? Date.now;
    const builder = new BarBuilder({
      graceMs: options.barGraceMs,
      sink: {
        bar(bar, tape, stored) {
          publisher.add(bar.ev, tape, bar.sym, bar.e, serializeEvent(bar), symbols.slot(bar.sym).shard);
          barStore.bar(bar.ev, bar.sym, stored);
        },
      },
    });
    const barStore = new BarStore({
      kv: bus.kv,
      builder,
      logger,
      mayPublish,
      intervalMs: options.barStoreIntervalMs,
    });
    this.bars = builder;
    this.barStore = barStore;
    const onStatus = options.onStatus;
    const encoded = (type: EventType, tape: Tape, sym: string, t: number, json: string) => {
      if (type === 'A' || type === 'AM') return;
      const slot = symbols.slot(sym);
      publisher.add(type, tape, sym, t, json, slot.shard);
      lastValues.update(slot, type, json);
      if (type === 'T') {
        const fields = readTrade(json);
        if (fields !== undefined) {
          slot.bars ??= builder.symbol(sym, tape);
          builder.trade(slot.bars, tape, t, fields.p, fields.s, tradeCodes);
        }
      }
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
          if (event.ev === 'A' || event.ev === 'AM') return;
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

  /**
   * Continues the day's bars from the store (another leader's, before a failover), then closes
   * windows on second boundaries of the ingest clock. Call before the feed starts.
   */
  async startBars(): Promise<void> {
    await this.barStore.load(this.#now());
    this.barStore.start();
    this.#armBars();
  }

  /** Closes what is open (at shutdown, the bars so far are the day's). */
  async stopBars(): Promise<void> {
    clearTimeout(this.#barTimer);
    this.#barTimer = undefined;
    await this.barStore.stop();
  }

  /** Forgets the day's bars without writing them (the lease is gone). */
  discardBars(): void {
    clearTimeout(this.#barTimer);
    this.#barTimer = undefined;
    this.barStore.discard();
    this.bars.clear();
  }

  #armBars(): void {
    const now = this.#now();
    // Just past the next second boundary plus the grace, so each tick closes the second that ended.
    const wait = 1_000 - (now % 1_000) + (this.bars.graceMs + 5);
    this.#barTimer = setTimeout(() => {
      this.bars.advance(this.#now());
      this.#armBars();
    }, wait);
    this.#barTimer.unref();
  }
}
