/**
 * Market data on Redis: stream `${prefix}:ticks:{n}` per shard n, payload in field `d`, trimmed by
 * XADD MAXLEN ~ tickMaxLen, and its epoch `${prefix}:ticks:{n}:epoch` in the same slot, so the
 * two are lost together: a Redis restarted without its data has neither, and the next retention
 * read makes a new epoch.
 */

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import { checkShard } from '../checks.js';
import type { Retention, ShardEntry, StartFrom, TickReader, TickStreams } from '../types.js';
import {
  type Children,
  connectionName,
  FAILED_READ_PAUSE_MS,
  isHardReply,
  type Redis,
  readFailed,
} from './connection.js';
import { Dedicated } from './dedicated.js';
import type { RedisBusOptions } from './options.js';
import { lastId, type RawStreams } from './streams.js';

/** The greatest id before every id of `time` ms: XREAD returns what comes after it. */
function idBefore(time: number): string {
  const ms = Math.floor(time);
  return ms > 0 ? `${ms - 1}-18446744073709551615` : '0-0';
}

/** The greatest id that can come before `id`: nothing can lie between the two. */
function idBeforeId(id: string): string {
  const [ms, seq] = id.split('-') as [string, string];
  if (seq !== '0') return `${ms}-${BigInt(seq) - 1n}`;
  return idBefore(Number(ms));
}

type Outcome = { entries: ShardEntry[] } | { error: unknown };

/**
 * Shards read together by one XREAD on one connection. On one node that is every shard the reader
 * has; on a cluster each shard is a slot of its own (XREAD over several would be CROSSSLOT), so
 * each shard is a group with its own connection to the master serving it.
 */
class ShardGroup {
  readonly conn: Dedicated;
  readonly keys: string[];
  readonly shards: number[];
  /** The read in flight, and what it returned once settled (kept until `next` collects it). */
  inFlight: Promise<void> | undefined;
  outcome: Outcome | undefined;

  constructor(conn: Dedicated, keys: string[], shards: number[]) {
    this.conn = conn;
    this.keys = keys;
    this.shards = shards;
  }
}

class RedisTickReader implements TickReader {
  readonly #main: Redis;
  readonly #groups: ShardGroup[];
  readonly #from: StartFrom;
  readonly #keys: string[];
  readonly #logger: Logger;
  readonly #onClose: () => void;
  #opening: Promise<Map<string, string>> | undefined;
  /** The position (last id read) per stream key. */
  #positions: Map<string, string> | undefined;
  /** Where it started, per key in order (set once opened). */
  #startIds: string[] | undefined;
  #closed = false;

  constructor(
    main: Redis,
    keys: string[],
    shards: readonly number[],
    from: StartFrom,
    name: string,
    logger: Logger,
    onClose: () => void,
  ) {
    this.#main = main;
    this.#keys = keys;
    this.#from = from;
    this.#logger = logger;
    this.#onClose = onClose;
    const dedicated = (key: string) => new Dedicated(main, key, name, 'tick-reader', logger);
    this.#groups = main.cluster
      ? keys.map((key, i) => new ShardGroup(dedicated(key), [key], [shards[i] as number]))
      : [new ShardGroup(dedicated(keys[0] as string), keys, [...shards])];
    // Issued now, on the shared connection, so the snapshot precedes any publish made after reader().
    this.#opening = this.#start();
    // next() awaits it and reports the failure; until then it must not count as unhandled.
    this.#opening.catch(() => undefined);
  }

  async #start(): Promise<Map<string, string>> {
    const from = this.#from;
    const positions =
      from === 'latest'
        ? Promise.all(this.#keys.map((key) => lastId(this.#main, key)))
        : this.#keys.map((_, i) =>
            from === 'earliest' ? '0-0' : 'after' in from ? (from.after[i] ?? '0-0') : idBefore(from.time),
          );
    const [start] = await Promise.all([positions, ...this.#groups.map((group) => group.conn.connect())]);
    this.#startIds = [...start];
    return new Map(this.#keys.map((key, i) => [key, start[i] as string]));
  }

  /**
   * One XREAD on one node. On a cluster: first a non-blocking read of every shard without a read
   * in flight, so what is there now comes back together as one XREAD would return it; only when
   * nothing is there, a blocking read per shard, returning what the first to answer (and any other
   * already answered) brought. A read still blocked stays in flight for the next call, so a
   * shard's position is never read twice at once and nothing is skipped.
   */
  async next({ count, blockMs }: { count: number; blockMs: number }): Promise<ShardEntry[]> {
    if (this.#closed) return [];
    let positions: Map<string, string>;
    try {
      if (this.#positions === undefined) {
        this.#opening ??= this.#start();
        this.#positions = await this.#opening;
      }
      positions = this.#positions;
    } catch (err) {
      this.#opening = undefined;
      return await this.#failed(err);
    }
    if (this.#groups.length > 1) {
      await Promise.all(this.#startReads(positions, count, 0));
      const now = await this.#collect();
      if (now.length > 0 || blockMs <= 0) return now;
    }
    this.#startReads(positions, count, blockMs);
    await Promise.race(this.#groups.flatMap((group) => group.inFlight ?? []));
    return await this.#collect();
  }

  async started(): Promise<string[]> {
    if (this.#positions === undefined) {
      try {
        this.#opening ??= this.#start();
        this.#positions = await this.#opening;
      } catch (err) {
        this.#opening = undefined;
        throw err;
      }
    }
    return [...(this.#startIds as string[])];
  }

  /** Starts a read on every group with none in flight and nothing uncollected. */
  #startReads(positions: Map<string, string>, count: number, blockMs: number): Array<Promise<void>> {
    const started: Array<Promise<void>> = [];
    for (const group of this.#groups) {
      if (group.outcome !== undefined || group.inFlight !== undefined) continue;
      const read = this.#read(group, positions, count, blockMs).then((outcome) => {
        group.outcome = outcome;
        group.inFlight = undefined;
      });
      group.inFlight = read;
      started.push(read);
    }
    return started;
  }

  /** What the settled reads brought; a failure is reported only when nothing came with it. */
  async #collect(): Promise<ShardEntry[]> {
    const out: ShardEntry[] = [];
    let error: unknown;
    for (const group of this.#groups) {
      const outcome = group.outcome;
      if (outcome === undefined) continue;
      group.outcome = undefined;
      if ('error' in outcome) error ??= outcome.error;
      else out.push(...outcome.entries);
    }
    if (out.length === 0 && error !== undefined) return this.#failed(error);
    return out;
  }

  async #failed(err: unknown): Promise<ShardEntry[]> {
    if (this.#closed) return [];
    if (isHardReply(err)) throw err;
    // The connection dropped (or a cluster failover moved a shard): it reconnects by itself and
    // the next call resumes from the position.
    readFailed(this.#main, this.#logger, err, 'tick read failed, resuming after reconnect');
    await sleep(FAILED_READ_PAUSE_MS);
    return [];
  }

  async #read(
    group: ShardGroup,
    positions: Map<string, string>,
    count: number,
    blockMs: number,
  ): Promise<Outcome> {
    const args = ['XREAD', 'COUNT', String(count)];
    if (blockMs > 0) args.push('BLOCK', String(blockMs));
    args.push('STREAMS', ...group.keys, ...group.keys.map((key) => positions.get(key) as string));
    try {
      const reply = await group.conn.send<RawStreams>(args, { buffers: true });
      const entries: ShardEntry[] = [];
      for (const [rawKey, raw] of reply ?? []) {
        const key = rawKey.toString();
        const index = group.keys.indexOf(key);
        const last = raw[raw.length - 1];
        if (index < 0 || last === undefined) continue;
        const shard = group.shards[index] as number;
        for (const [id, fields] of raw) {
          const payload = fields?.[1];
          if (payload !== undefined) entries.push({ shard, id: id.toString(), payload });
        }
        positions.set(key, last[0].toString());
      }
      return { entries };
    } catch (error) {
      return { error };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    for (const group of this.#groups) group.conn.destroy();
  }
}

export class RedisTickStreams implements TickStreams {
  readonly shards: number;
  readonly #main: Redis;
  readonly #keys: string[];
  readonly #maxLen: string;
  readonly #prefix: string;
  readonly #children: Children;
  readonly #logger: Logger;

  constructor(main: Redis, options: RedisBusOptions, children: Children) {
    this.shards = options.shards;
    this.#main = main;
    this.#prefix = options.prefix;
    this.#keys = Array.from({ length: options.shards }, (_, n) => `${options.prefix}:ticks:{${n}}`);
    this.#maxLen = String(options.tickMaxLen);
    this.#children = children;
    this.#logger = options.logger;
  }

  async publish(batches: ReadonlyArray<{ shard: number; payload: Buffer }>): Promise<void> {
    if (batches.length === 0) return;
    // One pipeline on one node; on a cluster each XADD goes to its shard's master.
    await this.#main.pipeline(
      batches.map(({ shard, payload }) => {
        const key = this.#keys[checkShard(shard, this.shards)] as string;
        return { key, args: ['XADD', key, 'MAXLEN', '~', this.#maxLen, '*', 'd', payload] };
      }),
    );
  }

  /**
   * Two round trips: the epochs (made where missing) with whether each stream exists, then XINFO
   * of those that do (XINFO of a missing key is an error, which would fail the whole pipeline).
   */
  async retention(): Promise<Retention[]> {
    const first = await this.#main.pipeline(
      this.#keys.flatMap((key) => {
        const epochKey = `${key}:epoch`;
        return [
          { key: epochKey, args: ['SET', epochKey, randomUUID().slice(0, 8), 'NX'] },
          { key: epochKey, args: ['GET', epochKey] },
          { key, args: ['EXISTS', key] },
        ];
      }),
    );
    const existing = this.#keys.filter((_, n) => Number(first[n * 3 + 2]) === 1);
    const infos = await this.#main.pipeline(existing.map((key) => ({ key, args: ['XINFO', 'STREAM', key] })));
    const byKey = new Map(existing.map((key, i) => [key, infos[i] as unknown[]]));
    return this.#keys.map((key, n) => {
      const info = byKey.get(key);
      const epoch = String(first[n * 3 + 1]);
      if (info === undefined) return { epoch, deletedThrough: '0-0', lastId: '0-0' };
      const lastId = String(infoField(info, 'last-generated-id'));
      // Trimming does not move max-deleted-entry-id: what is gone is told by the count ever added.
      const removed = Number(infoField(info, 'entries-added')) > Number(infoField(info, 'length'));
      const firstEntry = infoField(info, 'first-entry') as unknown[] | null | undefined;
      const firstId = firstEntry?.[0] === undefined ? undefined : String(firstEntry[0]);
      const deletedThrough = !removed ? '0-0' : firstId === undefined ? lastId : idBeforeId(firstId);
      return { epoch, deletedThrough, lastId };
    });
  }

  reader(options: { shards?: readonly number[]; from?: StartFrom } = {}): TickReader {
    const shards = options.shards ?? Array.from({ length: this.shards }, (_, n) => n);
    const keys = shards.map((shard) => this.#keys[checkShard(shard, this.shards)] as string);
    const reader: RedisTickReader = new RedisTickReader(
      this.#main,
      keys,
      shards,
      options.from ?? 'latest',
      connectionName(`${this.#prefix}:tick-reader`),
      this.#logger,
      () => this.#children.remove(reader),
    );
    return this.#children.add(reader);
  }
}

/** A field of a RESP2 XINFO STREAM reply, a flat list of names and values. */
function infoField(info: unknown[], name: string): unknown {
  for (let i = 0; i + 1 < info.length; i += 2) if (String(info[i]) === name) return info[i + 1];
  return undefined;
}
