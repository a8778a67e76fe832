/**
 * The bus: market data, work streams, control broadcast, key/values, leases and session slots, on
 * Redis Streams when a URL is configured (scaled mode) or inside the process otherwise (embedded
 * default).
 */
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { createMemoryBus } from './memory.js';
import { openRedisBus } from './redis.js';
import type { Bus, OpenBusOptions } from './types.js';

export type * from './types.js';

/**
 * Picks the implementation from `url`, so callers never branch on deployment mode. With Redis,
 * resolves once connected, retrying for `connectRetryMs` (default: until Redis answers), then
 * rejecting with an `UnreachableError`.
 */
export async function openBus(options: OpenBusOptions & { logger?: Logger } = {}): Promise<Bus> {
  const shards = options.shards ?? 16;
  if (!Number.isInteger(shards) || shards < 1)
    throw new RangeError(`shards must be a positive integer, got ${shards}`);
  const logger = options.logger ?? silentLogger;
  const tickMaxLen = options.tickMaxLen ?? 100_000;
  if (options.url === undefined || options.url === '') return createMemoryBus({ shards, tickMaxLen, logger });
  return openRedisBus({
    url: options.url,
    prefix: options.prefix ?? 'mdhub',
    shards,
    tickMaxLen,
    controlMaxLen: options.controlMaxLen ?? 10_000,
    connectRetryMs: options.connectRetryMs ?? Number.POSITIVE_INFINITY,
    logger,
  });
}

/**
 * The shard a symbol's ticks go to. FNV-1a over the UTF-16 code units: cheap on the ingest hot
 * path and identical in every process, so every edge agrees which shard carries a symbol.
 */
export function shardOf(symbol: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < symbol.length; i++) {
    hash = Math.imul(hash ^ symbol.charCodeAt(i), 0x01000193);
  }
  return (hash >>> 0) % shards;
}
