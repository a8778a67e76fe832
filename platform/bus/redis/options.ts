import type { Logger } from '../../logger.js';

/** Fully resolved: `openBus` applies the defaults, so they live in one place. */
export interface RedisBusOptions {
  url: string;
  prefix: string;
  shards: number;
  tickMaxLen: number;
  controlMaxLen: number;
  logger: Logger;
  /** How long `openRedisBus` retries before throwing an `UnreachableError` (ms); Infinity: for ever. */
  connectRetryMs: number;
}
