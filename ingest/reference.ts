/**
 * The symbols of the synthetic market, their tapes, names and types, on the bus for the edges:
 * without a vendor key there is no vendor to ask for reference data, so `/v3/reference/tickers`
 * answers from the market the hub itself makes up. Written once by the ingest process that runs
 * the market (one field, the whole list), read by any edge.
 *
 * Layout: key `ref:tickers`, field `synthetic`, value JSON `[[sym, tape, name, type], …]` in
 * symbol order. The name and type were added later: a reader takes `[sym, tape]` pairs too (an
 * older ingest), naming the symbol after itself as a common stock.
 */
import type { Bus } from '../platform/bus/index.js';
import type { Tape } from './event.js';

const KEY = 'ref:tickers';
const FIELD = 'synthetic';

export interface ReferenceTicker {
  sym: string;
  tape: Tape;
  name: string;
  /** Polygon's ticker type (CS, ETF). */
  type: string;
}

/** Stores the synthetic market's symbols (sorted by symbol). */
export async function writeSyntheticTickers(bus: Bus, tickers: readonly ReferenceTicker[]): Promise<void> {
  const sorted = [...tickers].sort((a, b) => (a.sym < b.sym ? -1 : a.sym > b.sym ? 1 : 0));
  const json = JSON.stringify(sorted.map(({ sym, tape, name, type }) => [sym, tape, name, type]));
  await bus.kv.setFields(KEY, new Map([[FIELD, json]]));
}

/** The synthetic market's symbols, sorted; empty when no synthetic market has written them. */
export async function readSyntheticTickers(bus: Bus): Promise<ReferenceTicker[]> {
  const raw = await bus.kv.getField(KEY, FIELD);
  if (raw === null) return [];
  const rows = JSON.parse(raw.toString('utf8')) as Array<[string, Tape, string?, string?]>;
  return rows.map(([sym, tape, name, type]) => ({
    sym,
    tape,
    name: name ?? `${sym} (synthetic)`,
    type: type ?? 'CS',
  }));
}
