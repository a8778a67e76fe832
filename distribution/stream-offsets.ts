/**
 * Where the edge's live tick reader stands on every shard stream, and the `offsets` statuses that
 * tell a client opted in to them (issue 19, resume after reconnect). The fan-out is synchronous:
 * between two turns every open, non-conflating session has been handed everything up to these
 * positions, so they are exactly the client's position whenever it is told them. An offset is
 * meaningful only with its stream's epoch (platform/bus/types.ts `Retention`).
 *
 * Wire form, one status per frame, encoded once per turn and shared by every session told it:
 *   [{"ev":"status","status":"offsets","offsets":{"3":{"epoch":"1f0c9a2e","offset":"1733231400123-0"}}}]
 */
import type { Retention, ShardEntry } from '../platform/bus/index.js';

export class StreamOffsets {
  readonly shards: number;
  /** The id of the last entry the fan-out processed, per shard; undefined until the reader opened. */
  readonly #ids: Array<string | undefined>;
  readonly #epochs: string[];
  /** Shards the current turn moved, and the frames for it (built on first use). */
  readonly #moved: number[] = [];
  #turnFrame: Buffer | undefined;
  #fullFrame: Buffer | undefined;

  constructor(shards: number) {
    this.shards = shards;
    this.#ids = new Array<string | undefined>(shards).fill(undefined);
    this.#epochs = new Array<string>(shards).fill('');
  }

  /** Whether the live reader's start and every epoch are known: resume and offsets need both. */
  get ready(): boolean {
    return this.#ids.every((id) => id !== undefined) && this.#epochs.every((epoch) => epoch !== '');
  }

  /** The live reader opened after these ids (shard order). */
  started(ids: readonly string[]): void {
    ids.forEach((id, shard) => {
      if (this.#ids[shard] === undefined) this.#ids[shard] = id;
    });
    this.#fullFrame = undefined;
  }

  /** A turn is about to go to the fan-out: its entries' ids become the positions. */
  advance(entries: readonly ShardEntry[]): void {
    const moved = this.#moved;
    moved.length = 0;
    for (const entry of entries) {
      if (!moved.includes(entry.shard)) moved.push(entry.shard);
      this.#ids[entry.shard] = entry.id;
    }
    this.#turnFrame = undefined;
    this.#fullFrame = undefined;
  }

  /** The epochs as the bus reports them now (after a Redis restart, new ones). */
  epochsFrom(retention: readonly Retention[]): void {
    retention.forEach((shard, n) => {
      if (this.#epochs[n] !== shard.epoch) this.#fullFrame = this.#turnFrame = undefined;
      this.#epochs[n] = shard.epoch;
    });
  }

  /** The live position of `shard` (`0-0` before the reader opened). */
  id(shard: number): string {
    return this.#ids[shard] ?? '0-0';
  }

  /** The offsets of the shards the last turn moved: sent after a real-time frame of that turn. */
  turnFrame(): Buffer {
    this.#turnFrame ??= this.frameFor(this.#moved, this.#ids);
    return this.#turnFrame;
  }

  /** Every shard's offset: sent on subscribe, after a replay and on the keepalive. */
  fullFrame(): Buffer {
    this.#fullFrame ??= this.frameFor(
      this.#ids.map((_, shard) => shard),
      this.#ids,
    );
    return this.#fullFrame;
  }

  /** An `offsets` status for `shards` at `ids` (a replay's positions, say), with their epochs. */
  frameFor(shards: readonly number[], ids: ReadonlyArray<string | undefined>): Buffer {
    const offsets: Record<string, { epoch: string; offset: string }> = {};
    for (const shard of shards)
      offsets[shard] = { epoch: this.#epochs[shard] ?? '', offset: ids[shard] ?? '0-0' };
    return Buffer.from(JSON.stringify([{ ev: 'status', status: 'offsets', offsets }]));
  }
}
