import { checkShard } from '../checks.js';
import type { ShardEntry, StartFrom, TickReader, TickStreams } from '../types.js';
import type { Lifecycle } from './lifecycle.js';
import { blockingRead, IdClock, Log, startPosition, Waiters } from './log.js';

class TickShard {
  readonly log = new Log<ShardEntry>();
  readonly clock = new IdClock();
  readonly waiters = new Waiters();
}

class MemoryTickReader implements TickReader {
  readonly #shards: TickShard[];
  readonly #positions: number[];
  readonly #wakeOnClose = new Waiters();
  readonly #sources: Waiters[];
  readonly #lifecycle: Lifecycle;
  #closed = false;

  constructor(shards: TickShard[], from: StartFrom, lifecycle: Lifecycle) {
    this.#shards = shards;
    this.#positions = shards.map((shard) => startPosition(shard.log, from));
    this.#sources = [...shards.map((shard) => shard.waiters), this.#wakeOnClose];
    this.#lifecycle = lifecycle;
  }

  next({ count, blockMs }: { count: number; blockMs: number }): Promise<ShardEntry[]> {
    return blockingRead(
      () => this.#take(count),
      blockMs,
      this.#sources,
      () => this.#closed,
    );
  }

  #take(count: number): ShardEntry[] {
    const out: ShardEntry[] = [];
    for (let slot = 0; slot < this.#shards.length; slot++) {
      const log = (this.#shards[slot] as TickShard).log;
      const from = Math.max(this.#positions[slot] ?? 0, log.start);
      const to = Math.min(log.end, from + count);
      for (let position = from; position < to; position++) {
        const entry = log.at(position);
        if (entry !== undefined) out.push(entry);
      }
      this.#positions[slot] = to;
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#lifecycle.release(this);
    this.#wakeOnClose.wake();
  }
}

export class MemoryTickStreams implements TickStreams {
  readonly shards: number;
  readonly #streams: TickShard[];
  readonly #maxLen: number;
  readonly #lifecycle: Lifecycle;

  constructor(shards: number, maxLen: number, lifecycle: Lifecycle) {
    this.shards = shards;
    this.#streams = Array.from({ length: shards }, () => new TickShard());
    this.#maxLen = maxLen;
    this.#lifecycle = lifecycle;
  }

  async publish(batches: ReadonlyArray<{ shard: number; payload: Buffer }>): Promise<void> {
    this.#lifecycle.check();
    for (const { shard, payload } of batches) {
      const stream = this.#streams[checkShard(shard, this.shards)] as TickShard;
      const end = stream.log.append({ shard, id: stream.clock.next(), payload }) + 1;
      if (end - stream.log.start > this.#maxLen) stream.log.dropBefore(end - this.#maxLen);
      // Waking only settles promises: readers run after this loop, seeing the whole publish.
      stream.waiters.wake();
    }
  }

  reader(options: { shards?: readonly number[]; from?: StartFrom } = {}): TickReader {
    const shards = options.shards ?? Array.from({ length: this.shards }, (_, n) => n);
    const streams = shards.map((shard) => this.#streams[checkShard(shard, this.shards)] as TickShard);
    return this.#lifecycle.adopt(new MemoryTickReader(streams, options.from ?? 'latest', this.#lifecycle));
  }
}
