/**
 * The last quote and last trade per symbol, for REST snapshots and for clients that subscribe
 * between ticks. Kept in memory on every event (a field of the symbol's slot), written to the bus key/values at
 * a bounded rate — only the symbols that changed since the last write, every `intervalMs` — so
 * the cache costs a few Redis commands a second however fast the feed runs.
 *
 * Layout: key `lvc:Q` / `lvc:T`, field = symbol, value = the event's client JSON.
 */
import type { Bus, KeyValues } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import type { Quote, Trade } from './event.js';
import type { IngestStats } from './stats.js';
import { QUOTE_CHANGED, type SymbolSlot, TRADE_CHANGED } from './symbols.js';

export type LastValueType = 'Q' | 'T';

export const lastValueKey = (type: LastValueType) => `lvc:${type}`;

export interface LastValueCacheOptions {
  kv: KeyValues;
  stats: IngestStats;
  logger: Logger;
  /** Asked before every write, like the publisher: a process without the lease writes nothing. */
  mayPublish?: () => boolean;
  /** How often changed symbols are written (default 100 ms). */
  intervalMs?: number;
}

export class LastValueCache {
  readonly #options: LastValueCacheOptions;
  readonly #mayPublish: () => boolean;
  /** Slots with changes not yet written, each once. */
  #changed: SymbolSlot[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #failing = false;

  constructor(options: LastValueCacheOptions) {
    this.#options = options;
    this.#mayPublish = options.mayPublish ?? (() => true);
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      if (this.#writing === undefined) void this.flush();
    }, this.#options.intervalMs ?? 100);
  }

  /** Remembers a quote or trade of the slot's symbol (other types are ignored); `json` is its client JSON. */
  update(slot: SymbolSlot, type: string, json: string): void {
    let bit: number;
    if (type === 'Q') {
      slot.quote = json;
      bit = QUOTE_CHANGED;
    } else if (type === 'T') {
      slot.trade = json;
      bit = TRADE_CHANGED;
    } else {
      return;
    }
    if (slot.changed === 0) this.#changed.push(slot);
    slot.changed |= bit;
  }

  /** Writes the symbols changed since the last write; resolves when the bus has them. */
  flush(): Promise<void> {
    const previous = this.#writing;
    const current = (async () => {
      await previous;
      await this.#writeChanged();
    })();
    this.#writing = current;
    void current.then(() => {
      if (this.#writing === current) this.#writing = undefined;
    });
    return current;
  }

  /** Forgets unwritten changes (the lease is gone). */
  discard(): void {
    for (const slot of this.#changed) {
      slot.changed = 0;
      slot.quote = undefined;
      slot.trade = undefined;
    }
    this.#changed = [];
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Never rejects: a failed write is logged once per outage and superseded by the next one. */
  async #writeChanged(): Promise<void> {
    const changed = this.#changed;
    if (changed.length === 0) return;
    this.#changed = [];
    const quotes = new Map<string, string>();
    const trades = new Map<string, string>();
    for (const slot of changed) {
      if (slot.changed & QUOTE_CHANGED && slot.quote !== undefined) quotes.set(slot.sym, slot.quote);
      if (slot.changed & TRADE_CHANGED && slot.trade !== undefined) trades.set(slot.sym, slot.trade);
      slot.changed = 0;
      // Values from the fast path are slices of vendor frames: holding on to them would keep a
      // whole frame alive per quiet symbol.
      slot.quote = undefined;
      slot.trade = undefined;
    }
    if (!this.#mayPublish()) return;
    const { kv, stats, logger } = this.#options;
    try {
      const writes: Array<Promise<void>> = [];
      if (quotes.size > 0) writes.push(kv.setFields(lastValueKey('Q'), quotes));
      if (trades.size > 0) writes.push(kv.setFields(lastValueKey('T'), trades));
      await Promise.all(writes);
      stats.lastValueWrites += writes.length;
      if (this.#failing) logger.info('last-value cache writes recovered');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing)
        logger.warn({ err: error }, 'last-value cache write failed; retrying with newer values');
      this.#failing = true;
    }
  }
}

/** The last quote (`Q`) or trade (`T`) of `sym` ingest has written, or null when there is none. */
export async function readLastValue(bus: Bus, type: 'Q', sym: string): Promise<Quote | null>;
export async function readLastValue(bus: Bus, type: 'T', sym: string): Promise<Trade | null>;
export async function readLastValue(
  bus: Bus,
  type: LastValueType,
  sym: string,
): Promise<Quote | Trade | null> {
  const raw = await bus.kv.getField(lastValueKey(type), sym);
  if (raw === null) return null;
  const event = JSON.parse(raw.toString('utf8')) as Quote | Trade;
  return event.ev === type ? event : null;
}

/** The last quotes or trades of many symbols in one round trip, in the order asked (null where none). */
export async function readLastValues(
  bus: Bus,
  type: LastValueType,
  syms: readonly string[],
): Promise<Array<Quote | Trade | null>> {
  const raws = await bus.kv.getFields(lastValueKey(type), syms);
  return raws.map((raw) => {
    if (raw === null) return null;
    const event = JSON.parse(raw.toString('utf8')) as Quote | Trade;
    return event.ev === type ? event : null;
  });
}
