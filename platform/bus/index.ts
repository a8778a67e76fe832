/**
 * The bus: market data, work streams, control broadcast, key/values, leases and session slots, on
 * Redis Streams when a URL is configured (scaled mode) or inside the process otherwise (embedded
 * default). One interface per capability (`types.ts`), one file per capability per backend
 * (`redis/`, `memory/`).
 */
export { compareIds, isStreamId } from './ids.js';
export { openBus } from './open.js';
export { shardOf } from './shard.js';
export type * from './types.js';
