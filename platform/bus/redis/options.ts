import type { Logger } from '../../logger.js';

/** Fully resolved: `openBus` applies the defaults, so they live in one place. */
export interface RedisBusOptions {
  /** The node's URL; on a cluster the first seed node's (what errors show). */
  url: string;
  /** Seed nodes of a Redis Cluster; absent on one node. */
  clusterUrls?: readonly string[];
  prefix: string;
  shards: number;
  tickMaxLen: number;
  controlMaxLen: number;
  logger: Logger;
  /** How long `openRedisBus` retries before throwing an `UnreachableError` (ms); Infinity: for ever. */
  connectRetryMs: number;
}
