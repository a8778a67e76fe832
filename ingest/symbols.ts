/**
 * Per-symbol state the hot path needs on every event — its bus shard and its last quote and
 * trade — behind one Map lookup, instead of hashing the symbol once for the shard and again for
 * each cache.
 */
import { shardOf } from '../platform/bus/index.js';
import type { SymbolBars } from './bars.js';

/** Which last values changed since the cache was last written. */
export const QUOTE_CHANGED = 1;
export const TRADE_CHANGED = 2;

export interface SymbolSlot {
  readonly sym: string;
  readonly shard: number;
  /** Client JSON of the last quote and trade not yet written to the last-value cache. */
  quote: string | undefined;
  trade: string | undefined;
  /** QUOTE_CHANGED | TRADE_CHANGED bits not yet written to the last-value cache. */
  changed: number;
  /** The symbol's bars being built (ingest/bars.ts), once it has traded. */
  bars: SymbolBars | undefined;
}

export class SymbolTable {
  readonly #shards: number;
  readonly #slots = new Map<string, SymbolSlot>();

  constructor(shards: number) {
    this.#shards = shards;
  }

  slot(sym: string): SymbolSlot {
    let slot = this.#slots.get(sym);
    if (slot === undefined) {
      slot = {
        sym,
        shard: shardOf(sym, this.#shards),
        quote: undefined,
        trade: undefined,
        changed: 0,
        bars: undefined,
      };
      this.#slots.set(sym, slot);
    }
    return slot;
  }
}
