/**
 * The edge's own readers of the tick streams. The live reader starts at the newest entry and
 * feeds the fan-out. A fresh edge also reads back from now − delay, so its delay line holds what
 * delayed clients are owed over the next `delay` and they need not wait a full delay for data:
 * the bus must retain at least `delay` worth of ticks (tickMaxLen entries per shard) for that.
 * The live reader's position moves `StreamOffsets` just before each turn reaches the fan-out:
 * that is what clients are told they may resume from.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ShardEntry, TickReader, TickStreams } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import type { StreamOffsets } from './stream-offsets.js';

export interface TickSink {
  live(entries: readonly ShardEntry[]): void;
  backfill(entries: readonly ShardEntry[]): void;
}

export interface TickSourceOptions {
  ticks: TickStreams;
  sink: TickSink;
  /** Entries per shard per read. */
  readCount: number;
  /** Read back this far on start (0: no backfill). */
  backfillMs: number;
  logger: Logger;
  /** Follows the live reader's position, for the offsets clients may resume from. */
  offsets: StreamOffsets;
  now?: () => number;
}

/** How long a live read waits for entries, so stop() is noticed promptly. */
const BLOCK_MS = 500;
const RETRY_PAUSE_MS = 250;

function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

export class TickSource {
  readonly #options: TickSourceOptions;
  readonly #now: () => number;
  readonly #readers: TickReader[] = [];
  readonly #loops: Array<Promise<void>> = [];
  #stopped = false;
  /** Whether the read-back on start has caught up with the live reader. */
  backfilled = false;

  constructor(options: TickSourceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    const live = this.#options.ticks.reader({ from: 'latest' });
    const startedAt = this.#now();
    this.#readers.push(live);
    this.#loops.push(this.#live(live));
    if (this.#options.backfillMs > 0) {
      const back = this.#options.ticks.reader({ from: { time: startedAt - this.#options.backfillMs } });
      this.#readers.push(back);
      this.#loops.push(this.#backfill(back, startedAt));
    } else this.backfilled = true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#readers.map((reader) => reader.close()));
    await Promise.all(this.#loops);
  }

  async #live(reader: TickReader): Promise<void> {
    const { sink, readCount, logger } = this.#options;
    let failing = false;
    let opened = false;
    while (!this.#stopped) {
      try {
        if (!opened) {
          this.#options.offsets.started(await reader.started());
          opened = true;
        }
        const entries = await reader.next({ count: readCount, blockMs: BLOCK_MS });
        failing = false;
        if (entries.length === 0) continue;
        const turn = await this.#andWaiting(reader, entries);
        if (this.#stopped) continue;
        this.#options.offsets.advance(turn);
        sink.live(turn);
      } catch (err) {
        if (!failing) logger.error({ err }, 'tick read failed; retrying');
        failing = true;
        await sleep(RETRY_PAUSE_MS);
      }
    }
  }

  /**
   * `entries` and whatever else is already waiting. A publisher's batch is one entry per shard,
   * sent together, and Redis answers a blocked read after the first of them: one more read without
   * waiting collects the rest, so the batch is one turn — one frame per socket, not one per shard.
   */
  async #andWaiting(reader: TickReader, entries: ShardEntry[]): Promise<ShardEntry[]> {
    try {
      const rest = await reader.next({ count: this.#options.readCount, blockMs: 0 });
      return rest.length > 0 ? entries.concat(rest) : entries;
    } catch {
      // What was read is sent; the next read meets the failure again and reports it.
      return entries;
    }
  }

  /** Reads what was stored before the live reader started, into the delay line only. */
  async #backfill(reader: TickReader, until: number): Promise<void> {
    const { sink, readCount, logger } = this.#options;
    try {
      while (!this.#stopped) {
        const entries = await reader.next({ count: readCount, blockMs: 0 });
        const older = entries.filter((entry) => idTime(entry.id) < until);
        if (older.length === 0) break;
        sink.backfill(older);
      }
    } catch (err) {
      logger.warn({ err }, 'reading back the delay window failed; delayed data starts from now');
    } finally {
      this.backfilled = true;
      await reader.close();
    }
  }
}
