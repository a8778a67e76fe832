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
