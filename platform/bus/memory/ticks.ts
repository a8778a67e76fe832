import { randomUUID } from 'node:crypto';
import { checkShard } from '../checks.js';
import type { Retention, ShardEntry, StartFrom, TickReader, TickStreams } from '../types.js';
import type { Lifecycle } from './lifecycle.js';
import { blockingRead, IdClock, Log, startPosition, Waiters } from './log.js';

class TickShard {
  readonly log = new Log<ShardEntry>();
  readonly clock = new IdClock();
  readonly waiters = new Waiters();
  /** The greatest id trimmed away. */
  deletedThrough = '0-0';

  /** The id of the entry before `position`, `0-0` when there is none. */
  idBefore(position: number): string {
    return this.log.at(position - 1)?.id ?? '0-0';
  }
}

class MemoryTickReader implements TickReader {
  readonly #shards: TickShard[];
  readonly #positions: number[];
  readonly #wakeOnClose = new Waiters();
  readonly #sources: Waiters[];
  readonly #lifecycle: Lifecycle;
  #closed = false;

  readonly #started: string[];

  constructor(shards: TickShard[], from: StartFrom, lifecycle: Lifecycle) {
    this.#shards = shards;
    this.#positions = shards.map((shard, i) =>
      startPosition(shard.log, from, typeof from === 'object' && 'after' in from ? from.after[i] : undefined),
    );
    this.#started = shards.map((shard, i) =>
      typeof from === 'object' && 'after' in from
        ? (from.after[i] ?? '0-0')
        : shard.idBefore(this.#positions[i] as number),
    );
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

  async started(): Promise<string[]> {
    return [...this.#started];
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
  /** The history of an in-process stream ends with the process: one epoch for its life. */
  readonly #epoch = randomUUID().slice(0, 8);

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
      if (end - stream.log.start > this.#maxLen) {
        stream.deletedThrough = stream.idBefore(end - this.#maxLen);
        stream.log.dropBefore(end - this.#maxLen);
      }
      // Waking only settles promises: readers run after this loop, seeing the whole publish.
      stream.waiters.wake();
    }
  }

  async retention(): Promise<Retention[]> {
    this.#lifecycle.check();
    return this.#streams.map((stream) => ({
      epoch: this.#epoch,
      deletedThrough: stream.deletedThrough,
      lastId: stream.idBefore(stream.log.end),
    }));
  }

  reader(options: { shards?: readonly number[]; from?: StartFrom } = {}): TickReader {
    const shards = options.shards ?? Array.from({ length: this.shards }, (_, n) => n);
    const streams = shards.map((shard) => this.#streams[checkShard(shard, this.shards)] as TickShard);
    return this.#lifecycle.adopt(new MemoryTickReader(streams, options.from ?? 'latest', this.#lifecycle));
  }
}
