/**
 * The one internal event type for vendor market data. Field names, order and meaning are
 * Polygon's stocks WebSocket ones, because clients receive exactly these fields: an event
 * serialises (ingest/json.ts) to the JSON a Polygon client expects, nothing added, nothing lost.
 *
 * An optional field the vendor left out is present with the value `undefined` rather than
 * missing, so every event of a type has one object shape (V8 keeps the hot path monomorphic);
 * serialisation leaves it out, as JSON.stringify does.
 */

/** Polygon's `z` for trades and quotes: 1 Tape A (NYSE-listed), 2 Tape B, 3 Tape C (Nasdaq-listed). */
export type Tape = 1 | 2 | 3;

export type EventType = Trade['ev'] | Quote['ev'] | Aggregate['ev'] | Luld['ev'];

export const EVENT_TYPES: readonly EventType[] = ['T', 'Q', 'A', 'AM', 'LULD'];

export interface Trade {
  ev: 'T';
  sym: string;
  /** Exchange id. */
  x: number;
  /** Trade id, unique per symbol and exchange. */
  i: string;
  z: Tape;
  p: number;
  s: number;
  /** Condition codes; absent when the trade has none. */
  c?: number[];
  /** Vendor (SIP) time, epoch ms. */
  t: number;
  /** Sequence number. */
  q: number;
}

export interface Quote {
  ev: 'Q';
  sym: string;
  bx: number;
  bp: number;
  bs: number;
  ax: number;
  ap: number;
  as: number;
  /** Condition code; absent when the vendor sends none. */
  c?: number;
  /** Indicator codes; absent when the vendor sends none. */
  i?: number[];
  t: number;
  q: number;
  z: Tape;
}

/**
 * Per-second (`A`) and per-minute (`AM`) bars. Here `z` is the average trade size, not the tape:
 * the tape of an aggregate is the one its symbol's trades and quotes carry.
 */
export interface Aggregate {
  ev: 'A' | 'AM';
  sym: string;
  v: number;
  av: number;
  op: number;
  vw: number;
  o: number;
  c: number;
  h: number;
  l: number;
  a: number;
  z: number;
  /** Window start and end, epoch ms. */
  s: number;
  e: number;
  otc?: boolean;
}

/**
 * A Limit Up-Limit Down event: the price band a symbol may trade in (`l` to `h`), with the
 * indicators the SIP sends with it — among them a trading pause (halt, 17) and its resumption
 * (18). Polygon names the symbol `T` here, not `sym`. `t` is the vendor time in ms.
 */
export interface Luld {
  ev: 'LULD';
  T: string;
  /** Limit up: the band's high price. */
  h: number;
  /** Limit down: the band's low price. */
  l: number;
  /** Indicator codes (empty when none). */
  i: number[];
  z: Tape;
  t: number;
  q: number;
}

/** The LULD indicator of a trading pause (a halt), and of trading resuming after one. */
export const LULD_HALT = 17;
export const LULD_RESUME = 18;

export type MarketEvent = Trade | Quote | Aggregate;

/** Everything the feed carries to clients: market data and LULD price bands. */
export type FeedEvent = MarketEvent | Luld;

/** The symbol of an event (`T` for LULD, `sym` for the rest). */
export function symbolOf(event: FeedEvent): string {
  return event.ev === 'LULD' ? event.T : event.sym;
}

/**
 * The vendor time of an event: `t` for ticks; for bars the window end, since a bar holds data up
 * to then and a delayed user must not see any of it early.
 */
export function vendorTime(event: FeedEvent): number {
  switch (event.ev) {
    case 'T':
    case 'Q':
    case 'LULD':
      return event.t;
    default:
      return event.e;
  }
}
