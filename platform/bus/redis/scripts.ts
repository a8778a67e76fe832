/**
 * The Lua scripts of the Redis bus, each one atomic step over exactly one key (`KEYS[1]`), so a
 * script never spans Redis Cluster slots.
 */
import { createHash } from 'node:crypto';
import { ErrorReply } from 'redis';
import type { Redis } from './connection.js';

/**
 * Lease acquire: take it when free, extend it when `holder` already has it, in one atomic step.
 * KEYS[1] = the lease string `${prefix}:lease:{name}`; ARGV = holder, ttl (ms). Returns 1 when held.
 */
export const LEASE_ACQUIRE_SCRIPT = `local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;
/**
 * Lease release: delete only our own lease, never a successor's that took over after expiry.
 * KEYS[1] = the lease string `${prefix}:lease:{name}`; ARGV = holder.
 */
export const LEASE_RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/**
 * Session slot acquire: drop lapsed slots, renew `id` if held, else take it if under the limit.
 * Times come from the server's clock so every edge sees the same expiries. The key itself expires
 * with its latest slot, so a group nobody renews leaves nothing behind.
 * KEYS[1] = the sorted set `${prefix}:sessions:{group}`; ARGV = slot id, limit, ttl (ms).
 * Returns {held (1 or 0), slots held after the call}.
 */
export const SESSION_ACQUIRE_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires = now + tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = 0
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], expires, ARGV[1])
  held = 1
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', KEYS[1], math.ceil(tonumber(last[2]))) end
return {held, redis.call('ZCARD', KEYS[1])}`;
/**
 * Session slot count: only slots that have not lapsed.
 * KEYS[1] = the sorted set `${prefix}:sessions:{group}`; no ARGV; read only.
 */
export const SESSION_COUNT_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;
/**
 * Whether one slot is held: its score (expiry) is after the server's now, the same test as the
 * count and the acquire's ZREMRANGEBYSCORE, so a lapsed slot nobody has cleared yet is not held.
 * KEYS[1] = the sorted set `${prefix}:sessions:{group}`; ARGV = slot id; read only.
 */
export const SESSION_HELD_SCRIPT = `local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(score) > now then return 1 end
return 0`;

/** A Lua script run by digest, loaded on first use and again after a server restart forgets it. */
export class Script {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  /** On a cluster each master loads it on its first NOSCRIPT: routed by `key`, like any command. */
  async run(redis: Redis, key: string, args: string[]): Promise<unknown> {
    try {
      return await redis.send(key, ['EVALSHA', this.#sha, '1', key, ...args]);
    } catch (err) {
      if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
      return redis.send(key, ['EVAL', this.#source, '1', key, ...args]);
    }
  }
}
