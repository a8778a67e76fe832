/**
 * The catalog's products as the edge's hot path sees them: an index per product, the product of
 * each Polygon tape, and each subscription's mode per product as a small integer.
 */
import type { Catalog, Product } from '../config/index.js';
import type { Mode } from '../entitlements/index.js';

/** A mode as stored per session and product: 0 nothing, 1 delayed, 2 real time. */
export type ModeCode = 0 | 1 | 2;
export const NONE: ModeCode = 0;
export const DELAYED: ModeCode = 1;
export const REALTIME: ModeCode = 2;

export function modeCode(mode: Mode): ModeCode {
  if (mode === 'realtime') return REALTIME;
  return mode === 'delayed' ? DELAYED : NONE;
}

export function modeName(code: ModeCode): Mode {
  if (code === REALTIME) return 'realtime';
  return code === DELAYED ? 'delayed' : 'refused';
}

export interface ProductTable {
  /** By product index. */
  readonly list: readonly Product[];
  /** Product index of each Polygon tape (`z`), -1 where no product carries it. */
  readonly byTape: readonly number[];
  /** Product index by id. */
  readonly byId: ReadonlyMap<string, number>;
}

export function productTable(catalog: Catalog): ProductTable {
  const list = [...catalog.products.values()].sort((a, b) => a.tape - b.tape);
  const byTape = [-1, -1, -1, -1];
  list.forEach((product, index) => {
    byTape[product.tape] = index;
  });
  return { list, byTape, byId: new Map(list.map((product, index) => [product.id, index])) };
}

/** A delay in words, for status messages: `15 minutes`, `2 seconds`, `250 ms`. */
export function delayWords(ms: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (ms >= 60_000 && ms % 60_000 === 0) return unit(ms / 60_000, 'minute');
  if (ms >= 1_000 && ms % 1_000 === 0) return unit(ms / 1_000, 'second');
  return `${ms} ms`;
}
