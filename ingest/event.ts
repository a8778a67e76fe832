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

export type EventType = Trade['ev'] | Quote['ev'] | Aggregate['ev'];

export const EVENT_TYPES: readonly EventType[] = ['T', 'Q', 'A', 'AM'];

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

export type MarketEvent = Trade | Quote | Aggregate;

/**
 * The vendor time of an event: `t` for ticks; for bars the window end, since a bar holds data up
 * to then and a delayed user must not see any of it early.
 */
export function vendorTime(event: MarketEvent): number {
  switch (event.ev) {
    case 'T':
    case 'Q':
      return event.t;
    default:
      return event.e;
  }
}
