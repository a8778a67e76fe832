/**
 * Which product a symbol belongs to, for telling a client the mode of `Q.AAPL` when it
 * subscribes: a symbol's tape comes from its last quote or trade in the last-value cache. Only
 * symbols found there are remembered, so the map is bounded by the symbols that really trade.
 * Data itself never depends on this: every event carries its tape.
 *
 * The symbols of one subscribe are looked up together — one HMGET per type, pipelined, so one
 * round trip however many — and only once the connection's symbol limit has been applied.
 */
import { readLastValues } from '../ingest/index.js';
import type { Bus } from '../platform/bus/index.js';
import type { ProductTable } from './products.js';

export class SymbolDirectory {
  readonly #bus: Bus;
  readonly #byTape: readonly number[];
  readonly #known = new Map<string, number>();

  constructor(bus: Bus, products: ProductTable) {
    this.#bus = bus;
    this.#byTape = products.byTape;
  }

  /** The product index of `sym`, if known. */
  get(sym: string): number | undefined {
    return this.#known.get(sym);
  }

  /** Looks up the symbols not known yet; a lookup that fails leaves them unknown. */
  async resolve(symbols: Iterable<string>): Promise<void> {
    const unknown = [...new Set(symbols)].filter((sym) => !this.#known.has(sym));
    if (unknown.length === 0) return;
    try {
      const [quotes, trades] = await Promise.all([
        readLastValues(this.#bus, 'Q', unknown),
        readLastValues(this.#bus, 'T', unknown),
      ]);
      unknown.forEach((sym, index) => {
        const event = quotes[index] ?? trades[index];
        const product = event == null ? -1 : (this.#byTape[event.z] ?? -1);
        if (product >= 0) this.#known.set(sym, product);
      });
    } catch {
      // Unknown for now: the status reports every product's mode instead of one.
    }
  }
}
