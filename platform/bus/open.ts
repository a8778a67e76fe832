import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { createMemoryBus } from './memory/bus.js';
import { openRedisBus } from './redis/bus.js';
import type { Bus, OpenBusOptions } from './types.js';

/**
 * Picks the implementation from `url` or `clusterUrls`, so callers never branch on deployment mode. With Redis,
 * resolves once connected, retrying for `connectRetryMs` (default: until Redis answers), then
 * rejecting with an `UnreachableError`.
 */
export async function openBus(options: OpenBusOptions & { logger?: Logger } = {}): Promise<Bus> {
  const shards = options.shards ?? 16;
  if (!Number.isInteger(shards) || shards < 1)
    throw new RangeError(`shards must be a positive integer, got ${shards}`);
  const logger = options.logger ?? silentLogger;
  const tickMaxLen = options.tickMaxLen ?? 100_000;
  const clusterUrls = options.clusterUrls?.length ? options.clusterUrls : undefined;
  const url = options.url === '' ? undefined : options.url;
  if (clusterUrls !== undefined && url !== undefined)
    throw new Error('set either a Redis URL or Redis Cluster seed nodes, not both');
  if (clusterUrls === undefined && url === undefined) return createMemoryBus({ shards, tickMaxLen, logger });
  return openRedisBus({
    url: url ?? (clusterUrls?.[0] as string),
    ...(clusterUrls === undefined ? {} : { clusterUrls }),
    prefix: options.prefix ?? 'mdhub',
    shards,
    tickMaxLen,
    controlMaxLen: options.controlMaxLen ?? 10_000,
    connectRetryMs: options.connectRetryMs ?? Number.POSITIVE_INFINITY,
    logger,
  });
}
