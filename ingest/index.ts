/**
 * Ingest: the vendor feed, once, onto the bus. The module's only entry point.
 *
 * `createIngest` (ingest/ingest.ts) runs the feed. For the edge: tick-stream payloads decode with
 * `decodeBatch` / `BatchCursor` (ingest/codec.ts documents the format); last values read with
 * `readLastValue`, today's bars and day states with `readBars` / `readBarStates`.
 */
export {
  type BarSpan,
  MAX_BARS_PER_READ,
  readBarStates,
  readBarSymbols,
  readBars,
  SECOND_SLOTS,
} from './bar-store.js';
export { type DaySummary, daySummary, type StoredBar, type SymbolBarState } from './bars.js';
export {
  BatchCursor,
  type BatchVisitor,
  BatchWriter,
  decodeBatch,
  encodeBatch,
  type TapedEvent,
} from './codec.js';
export { TRADE_CONDITIONS } from './conditions.js';
export type { Aggregate, EventType, FeedEvent, Luld, MarketEvent, Quote, Tape, Trade } from './event.js';
export { EVENT_TYPES, LULD_HALT, LULD_RESUME, symbolOf, vendorTime } from './event.js';
export { FEED_STATES, type FeedState } from './feed.js';
export {
  createIngest,
  DEFAULT_SYNTHETIC_RATE,
  DEFAULT_SYNTHETIC_SYMBOLS,
  type Ingest,
  type IngestOptions,
  type SyntheticOptions,
} from './ingest.js';
export { serializeEvent } from './json.js';
export { type LastValueType, lastValueKey, readLastValue, readLastValues } from './last-value.js';
export { LISTINGS, type Listing } from './listings.js';
export { MALFORMED_REASONS, type MalformedReason } from './normalize.js';
export { type ReferenceTicker, readSyntheticTickers, writeSyntheticTickers } from './reference.js';
export { DROP_REASONS, type DropReason } from './stats.js';
export { type TradingDay, tradingDayNamed, tradingDayOf } from './trading-day.js';
