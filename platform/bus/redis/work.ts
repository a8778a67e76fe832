/**
 * Work streams on Redis: stream `${prefix}:work:{name}`, payload in field `d`, read by a consumer
 * group. Never trimmed by length: `ack` deletes what it acknowledges, so a work stream is meant for
 * exactly one consumer group (a second group would lose entries the first acked).
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorReply } from 'redis';
import type { Logger } from '../../logger.js';
import type { BusEntry, WorkConsumer, WorkStream } from '../types.js';
import {
  type Children,
  connectionName,
  FAILED_READ_PAUSE_MS,
  isHardReply,
  type Redis,
  readFailed,
} from './connection.js';
import { Dedicated } from './dedicated.js';
import type { RawEntry, RawStreams } from './streams.js';

type RawAutoClaim = [cursor: Buffer, entries: RawEntry[], deleted?: Buffer[]];

function toEntries(raw: readonly RawEntry[], out: BusEntry[]): void {
  for (const [id, fields] of raw) {
    const payload = fields?.[1];
    if (payload !== undefined) out.push({ id: id.toString(), payload });
  }
}

/** Creates `group` at the start of `key` (and the stream, if missing); an existing group is kept. */
async function createGroup(redis: Redis, key: string, group: string): Promise<void> {
  try {
    await redis.send(key, ['XGROUP', 'CREATE', key, group, '0', 'MKSTREAM']);
  } catch (err) {
    if (!(err instanceof ErrorReply)) throw err;
    if (err.message.startsWith('BUSYGROUP')) return;
    // Refused (out of memory, say) before Redis looked: fine if the group is there already.
    const groups = await redis.send<string[][]>(key, ['XINFO', 'GROUPS', key]).catch(() => []);
    if (!groups.some((g) => String(g[g.indexOf('name') + 1]) === group)) throw err;
  }
}

function isNoGroup(err: unknown): boolean {
  return err instanceof ErrorReply && err.message.startsWith('NOGROUP');
}

class RedisWorkConsumer implements WorkConsumer {
  readonly #main: Redis;
  readonly #conn: Dedicated;
  readonly #connecting: Promise<unknown>;
  readonly #key: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #logger: Logger;
  readonly #onClose: () => void;
  #closed = false;
  /** A read failed with its connection: what it may have delivered is read back first. */
  #lost = false;

  constructor(
    main: Redis,
    key: string,
    group: string,
    consumer: string,
    logger: Logger,
    onClose: () => void,
  ) {
    this.#main = main;
    this.#key = key;
    this.#group = group;
    this.#consumer = consumer;
    this.#logger = logger;
    this.#onClose = onClose;
    const name = connectionName(`${key}:${group}:${consumer}`);
    this.#conn = new Dedicated(main, key, name, 'work-consumer', logger);
    this.#connecting = this.#conn.connect();
    // read() awaits it and reports the failure; until then it must not count as unhandled.
    this.#connecting.catch(() => undefined);
  }

  async read({ count, blockMs }: { count: number; blockMs: number }): Promise<BusEntry[]> {
    if (this.#closed) return [];
    if (this.#lost) {
      const pending = await this.readPending({ count });
      this.#lost = false;
      if (pending.length > 0) return pending;
    }
    const args = ['XREADGROUP', 'GROUP', this.#group, this.#consumer, 'COUNT', String(count)];
    if (blockMs > 0) args.push('BLOCK', String(blockMs));
    args.push('STREAMS', this.#key, '>');
    try {
      await this.#connecting;
      const reply = await this.#conn.send<RawStreams>(args, { buffers: true });
      const out: BusEntry[] = [];
      for (const [, entries] of reply ?? []) toEntries(entries, out);
      return out;
    } catch (err) {
      if (this.#closed) return [];
      if (isNoGroup(err)) {
        await this.#recreateGroup(err);
        return [];
      }
      if (isHardReply(err)) throw err;
      // Anything delivered on the lost connection (or before a cluster failover moved the stream) stays pending with this consumer: the next read
      // takes it back first.
      this.#lost = true;
      readFailed(this.#main, this.#logger, err, 'work read failed, resuming after reconnect');
      await sleep(FAILED_READ_PAUSE_MS);
      return [];
    }
  }

  async readPending({ count }: { count: number }): Promise<BusEntry[]> {
    if (this.#closed || count < 1) return [];
    const args = [
      'XREADGROUP',
      'GROUP',
      this.#group,
      this.#consumer,
      'COUNT',
      String(count),
      'STREAMS',
      this.#key,
      '0',
    ];
    let reply: RawStreams;
    try {
      reply = await this.#main.send<RawStreams>(this.#key, args, { buffers: true });
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      await this.#recreateGroup(err);
      return [];
    }
    const out: BusEntry[] = [];
    const deleted: string[] = [];
    for (const [, entries] of reply ?? []) {
      toEntries(entries, out);
      for (const [id, fields] of entries)
        if (fields === null || fields === undefined) deleted.push(id.toString());
    }
    // Deleted while pending (another consumer acknowledged it after a claim): nothing to process.
    if (deleted.length > 0) await this.#main.send(this.#key, ['XACK', this.#key, this.#group, ...deleted]);
    return out;
  }

  async ack(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    // A pipeline, not MULTI: Redis out of memory refuses every command queued in a transaction,
    // but takes XDEL and XACK alone. Deleted first, so a failure between the two leaves an entry
    // pending without payload, which readPending and XAUTOCLAIM drop; never an acknowledged entry
    // that stays in the stream for ever.
    const [, acked] = await this.#main.pipeline([
      { key: this.#key, args: ['XDEL', this.#key, ...ids] },
      { key: this.#key, args: ['XACK', this.#key, this.#group, ...ids] },
    ]);
    return acked as number;
  }

  async claimStale({ minIdleMs, count }: { minIdleMs: number; count: number }): Promise<BusEntry[]> {
    const out: BusEntry[] = [];
    if (count < 1) return out;
    let cursor = '0-0';
    do {
      let reply: RawAutoClaim;
      try {
        reply = await this.#main.send<RawAutoClaim>(
          this.#key,
          [
            'XAUTOCLAIM',
            this.#key,
            this.#group,
            this.#consumer,
            String(minIdleMs),
            cursor,
            'COUNT',
            String(count - out.length),
          ],
          { buffers: true },
        );
      } catch (err) {
        if (!isNoGroup(err)) throw err;
        await this.#recreateGroup(err);
        return out;
      }
      const [next, entries] = reply;
      toEntries(entries, out);
      cursor = next.toString();
    } while (out.length < count && cursor !== '0-0');
    return out;
  }

  async touch(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    try {
      await this.#main.send(this.#key, [
        'XCLAIM',
        this.#key,
        this.#group,
        this.#consumer,
        '0',
        ...ids,
        'JUSTID',
      ]);
    } catch (err) {
      if (!isNoGroup(err)) throw err;
      await this.#recreateGroup(err);
    }
  }

  /**
   * The group is gone, with the pending entries it tracked: Redis restarted without persistence or
   * failed over to an empty replica. Recreated from the stream's first entry, since acknowledged
   * entries are deleted and whatever the stream holds now was never processed.
   */
  async #recreateGroup(err: unknown): Promise<void> {
    this.#logger.error(
      { err, group: this.#group },
      'consumer group lost with the data Redis held; recreating it',
    );
    await createGroup(this.#main, this.#key, this.#group);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    this.#conn.destroy();
  }
}

export class RedisWorkStream implements WorkStream {
  readonly name: string;
  readonly #main: Redis;
  readonly #key: string;
  readonly #children: Children;
  readonly #logger: Logger;

  constructor(main: Redis, name: string, prefix: string, children: Children, logger: Logger) {
    this.name = name;
    this.#main = main;
    this.#key = `${prefix}:work:{${name}}`;
    this.#children = children;
    this.#logger = logger;
  }

  async add(payloads: ReadonlyArray<Buffer | string>): Promise<string[]> {
    if (payloads.length === 0) return [];
    const ids = await this.#main.pipeline(
      payloads.map((payload) => ({ key: this.#key, args: ['XADD', this.#key, '*', 'd', payload] })),
    );
    return ids as string[];
  }

  ensureGroup(group: string): Promise<void> {
    return createGroup(this.#main, this.#key, group);
  }

  consumer(group: string, consumer: string): WorkConsumer {
    const child: RedisWorkConsumer = new RedisWorkConsumer(
      this.#main,
      this.#key,
      group,
      consumer,
      this.#logger,
      () => this.#children.remove(child),
    );
    return this.#children.add(child);
  }

  async pendingCount(group: string): Promise<number> {
    const [pending] = await this.#main.send<[number, ...unknown[]]>(this.#key, [
      'XPENDING',
      this.#key,
      group,
    ]);
    return pending;
  }

  length(): Promise<number> {
    return this.#main.send<number>(this.#key, ['XLEN', this.#key]);
  }
}
