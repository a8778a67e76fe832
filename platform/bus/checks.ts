/**
 * Argument checks both bus implementations make, with the same errors, so a caller's mistake fails
 * the same way embedded and scaled.
 */

/** Returns `shard` when it names one of the `shards` tick streams. */
export function checkShard(shard: number, shards: number): number {
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new RangeError(`shard ${shard} is outside 0..${shards - 1}`);
  }
  return shard;
}

/** A ttl under 1 ms would expire before it is stored (Redis rejects PX 0), so neither backend takes one. */
export function checkTtl(what: 'lease' | 'session', ttlMs: number): void {
  if (!(ttlMs >= 1)) throw new RangeError(`${what} ttl must be at least 1 ms, got ${ttlMs}`);
}
