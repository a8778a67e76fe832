import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { createMemoryBus } from './memory/bus.js';
import { openRedisBus } from './redis/bus.js';
import type { Bus, OpenBusOptions } from './types.js';

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
