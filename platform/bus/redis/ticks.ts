/**
 * Market data on Redis: stream `${prefix}:ticks:{n}` per shard n, payload in field `d`, trimmed by
 * XADD MAXLEN ~ tickMaxLen.
 */
import { ErrorReply } from 'redis';
import type { Logger } from '../../logger.js';
import { checkShard } from '../checks.js';
import type { ShardEntry, StartFrom, TickReader, TickStreams } from '../types.js';
import { BUFFERS, type Children, type Client, connectionName, readFailed, supervise } from './connection.js';
import type { RedisBusOptions } from './options.js';
import { lastId, type RawStreams } from './streams.js';

/** The greatest id before every id of `time` ms: XREAD returns what comes after it. */
function idBefore(time: number): string {
  const ms = Math.floor(time);
  return ms > 0 ? `${ms - 1}-18446744073709551615` : '0-0';
}

class RedisTickReader implements TickReader {
  readonly #main: Client;
  readonly #conn: Client;
  readonly #connecting: Promise<unknown>;
  readonly #from: StartFrom;
  readonly #keys: string[];
  readonly #shards: readonly number[];
  readonly #slotByKey: Map<string, number>;
  readonly #logger: Logger;
  readonly #onClose: () => void;
  #opening: Promise<string[]> | undefined;
  #positions: string[] | undefined;
  #closed = false;

  constructor(
    main: Client,
    keys: string[],
    shards: readonly number[],
    from: StartFrom,
    name: string,
    logger: Logger,
    onClose: () => void,
  ) {
    this.#keys = keys;
    this.#shards = shards;
    this.#slotByKey = new Map(keys.map((key, slot) => [key, slot]));
    this.#logger = logger;
    this.#onClose = onClose;
    this.#main = main;
    this.#from = from;
    this.#conn = supervise(main.duplicate({ name }), 'tick-reader', logger);
    this.#connecting = this.#conn.connect();
    // Issued now, on the shared connection, so the snapshot precedes any publish made after reader().
    this.#opening = this.#start();
    // next() awaits it and reports the failure; until then it must not count as unhandled.
    this.#opening.catch(() => undefined);
  }

  async #start(): Promise<string[]> {
    const from = this.#from;
    const positions =
      from === 'latest'
        ? Promise.all(this.#keys.map((key) => lastId(this.#main, key)))
        : this.#keys.map(() => (from === 'earliest' ? '0-0' : idBefore(from.time)));
    const [start] = await Promise.all([positions, this.#connecting]);
    return start;
  }

  async next({ count, blockMs }: { count: number; blockMs: number }): Promise<ShardEntry[]> {
    if (this.#closed) return [];
    try {
      if (this.#positions === undefined) {
        this.#opening ??= this.#start();
        this.#positions = await this.#opening;
      }
      return await this.#read(this.#positions, count, blockMs);
    } catch (err) {
      this.#opening = undefined;
      if (this.#closed) return [];
      if (err instanceof ErrorReply) throw err;
      // The connection dropped: it reconnects by itself and the next call resumes from the position.
      readFailed(this.#main, this.#logger, err, 'tick read failed, resuming after reconnect');
      return [];
    }
  }

  async #read(positions: string[], count: number, blockMs: number): Promise<ShardEntry[]> {
    const args = ['XREAD', 'COUNT', String(count)];
    if (blockMs > 0) args.push('BLOCK', String(blockMs));
    args.push('STREAMS', ...this.#keys, ...positions);
    const reply = await this.#conn.sendCommand<RawStreams>(args, { typeMapping: BUFFERS });
    const out: ShardEntry[] = [];
    if (reply === null) return out;
    for (const [key, entries] of reply) {
      const slot = this.#slotByKey.get(key.toString());
      const last = entries[entries.length - 1];
      if (slot === undefined || last === undefined) continue;
      const shard = this.#shards[slot] ?? 0;
      for (const [id, fields] of entries) {
        const payload = fields?.[1];
        if (payload !== undefined) out.push({ shard, id: id.toString(), payload });
      }
      positions[slot] = last[0].toString();
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    this.#conn.destroy();
  }
}

export class RedisTickStreams implements TickStreams {
  readonly shards: number;
  readonly #main: Client;
  readonly #keys: string[];
  readonly #maxLen: string;
  readonly #prefix: string;
  readonly #children: Children;
  readonly #logger: Logger;

  constructor(main: Client, options: RedisBusOptions, children: Children) {
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
    const pipeline = this.#main.multi();
    for (const { shard, payload } of batches) {
      const key = this.#keys[checkShard(shard, this.shards)] as string;
      pipeline.addCommand(['XADD', key, 'MAXLEN', '~', this.#maxLen, '*', 'd', payload]);
    }
    await pipeline.execAsPipeline();
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
