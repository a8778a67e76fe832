/**
 * The bus on Redis Streams (scaled mode).
 *
 * Key layout. Every key starts with the configured prefix; the `{…}` part is a Redis Cluster hash
 * tag, so one stream (and everything a command touches at once) always lives in one slot:
 *
 *   `${prefix}:ticks:{n}`      stream — tick shard n (0 ≤ n < shards); field `d`; XADD MAXLEN ~ tickMaxLen
 *   `${prefix}:work:{name}`    stream — work stream `name`; field `d`; never trimmed by length: `ack`
 *                              deletes what it acknowledges, so a work stream is meant for exactly
 *                              one consumer group (a second group would lose entries the first acked)
 *   `${prefix}:control`        stream — control messages as JSON in field `d`; XADD MAXLEN ~ controlMaxLen
 *   `${prefix}:kv:{key}`       hash — the fields of one key/value entry
 *   `${prefix}:lease:{name}`   string — the holder of lease `name`, expiring with PX
 *   `${prefix}:sessions:{group}` sorted set — session slots of `group`: member = slot id, score =
 *                              expiry (epoch ms, Redis's own clock, so edges' clocks need not agree)
 *
 * Connections. One shared connection carries every non-blocking command (node-redis pipelines what
 * is issued in the same tick). Each tick reader, work consumer and control subscription has its own
 * connection, because a blocking read holds its connection until it returns. Every connection
 * reconnects by itself; connection names (CLIENT LIST) say which role each one plays.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, ErrorReply, RESP_TYPES } from 'redis';
import type { Logger } from '../logger.js';
import { failureReason, UnreachableError } from '../reach.js';
import type {
  Bus,
  BusEntry,
  BusHealth,
  ControlChannel,
  ControlMessage,
  ControlSubscribeOptions,
  KeyValues,
  Leases,
  SessionSlots,
  ShardEntry,
  StartFrom,
  Subscription,
  TickReader,
  TickStreams,
  WorkConsumer,
  WorkStream,
} from './types.js';

/** Fully resolved: `openBus` applies the defaults, so they live in one place. */
export interface RedisBusOptions {
  url: string;
  prefix: string;
  shards: number;
  tickMaxLen: number;
  controlMaxLen: number;
  logger: Logger;
  /** How long `openRedisBus` retries before throwing an `UnreachableError` (ms); Infinity: for ever. */
  connectRetryMs: number;
}

/** Stream replies are parsed raw (RESP2 arrays of Buffers) so payload bytes are never decoded or copied. */
const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;
type RawEntry = [id: Buffer, fields: Buffer[] | null];
type RawStreams = Array<[key: Buffer, entries: RawEntry[]]> | null;
type RawAutoClaim = [cursor: Buffer, entries: RawEntry[], deleted?: Buffer[]];

/** How long a control subscriber blocks per XREAD: finite so idle-killing proxies see traffic. */
const CONTROL_BLOCK_MS = '10000';
const CONTROL_BATCH = '100';
/** Pause after a failed read so a persistent error cannot spin the loop. */
const RETRY_PAUSE_MS = 250;
const HEALTH_TIMEOUT_MS = 1_000;
/** How long close() lets queued commands finish before dropping the connection. */
const CLOSE_GRACE_MS = 2_000;

/** Lease acquire: take it when free, extend it when `holder` already has it, in one atomic step. */
const ACQUIRE_SCRIPT = `local v = redis.call('GET', KEYS[1])
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`;
/** Lease release: delete only our own lease, never a successor's that took over after expiry. */
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/**
 * Session slot acquire: drop lapsed slots, renew `id` if held, else take it if under the limit.
 * Times come from the server's clock so every edge sees the same expiries. The key itself expires
 * with its latest slot, so a group nobody renews leaves nothing behind.
 */
const SESSION_ACQUIRE_SCRIPT = `local t = redis.call('TIME')
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
/** Session slot count: only slots that have not lapsed. */
const SESSION_COUNT_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`;
/**
 * Whether one slot is held: its score (expiry) is after the server's now, the same test as the
 * count and the acquire's ZREMRANGEBYSCORE, so a lapsed slot nobody has cleared yet is not held.
 */
const SESSION_HELD_SCRIPT = `local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(score) > now then return 1 end
return 0`;

/** Exponential backoff capped at 2 s, never giving up: the hub must outlive a Redis restart. */
function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 2_000) + Math.floor(Math.random() * 100);
}

/**
 * The shared connection's strategy: the same backoff, except that before the first connection
 * succeeds it gives up after `retryMs`, so `connect()` rejects instead of waiting for ever on an
 * address nothing listens on. Connections duplicated from it later are made once it is up and
 * so never give up.
 */
function bootStrategy(retryMs: number) {
  const started = Date.now();
  let connected = false;
  const strategy = (retries: number, cause: Error): number | Error => {
    if (!connected && Date.now() - started >= retryMs) return cause;
    return reconnectDelay(retries);
  };
  return { strategy, connected: () => (connected = true) };
}

function newClient(
  url: string,
  name: string,
  reconnectStrategy: (retries: number, cause: Error) => number | Error = reconnectDelay,
) {
  return createClient({ url, name, RESP: 2, socket: { reconnectStrategy } });
}
type Client = ReturnType<typeof newClient>;

/** CLIENT SETNAME refuses spaces and control characters. */
function connectionName(name: string): string {
  return name.replace(/[^\x21-\x7e]/g, '_');
}

/**
 * An unhandled 'error' event would crash the process, and node-redis emits one on every lost
 * connection. Each connection's drops and returns are logged at debug only: an outage takes every
 * connection down at once, and the process reports it once, as the `bus` readiness check turning
 * false and true again (platform/health.ts).
 */
function supervise(client: Client, role: string, logger: Logger): Client {
  let up = false;
  let lost = false;
  client.on('ready', () => {
    if (lost) logger.debug({ role }, 'redis connection restored');
    up = true;
    lost = false;
  });
  client.on('error', (err: unknown) => {
    if (up) logger.debug({ role, err }, 'redis connection lost, reconnecting');
    else logger.debug({ role, err }, 'redis connection attempt failed');
    up = false;
    lost = true;
  });
  return client;
}

/**
 * A read that failed on a child connection: news while the shared connection is up, and only
 * debug detail while it is down, since the outage is already reported (see `supervise`).
 */
function readFailed(main: Client, logger: Logger, err: unknown, message: string): void {
  if (main.isReady) logger.warn({ err }, message);
  else logger.debug({ err }, message);
}

/** Lets queued commands finish, but never waits on a server that is gone. */
async function shutdown(client: Client): Promise<void> {
  if (!client.isOpen) return;
  const timer = setTimeout(() => client.destroy(), CLOSE_GRACE_MS);
  try {
    await client.close();
  } finally {
    clearTimeout(timer);
  }
}

/** The id of the newest entry, or `0-0` for an empty or missing stream: reading after it misses nothing. */
async function lastId(client: Client, key: string): Promise<string> {
  const reply = await client.sendCommand<RawEntry[]>(['XREVRANGE', key, '+', '-', 'COUNT', '1'], {
    typeMapping: BUFFERS,
  });
  return reply[0]?.[0].toString() ?? '0-0';
}

/** The greatest id before every id of `time` ms: XREAD returns what comes after it. */
function idBefore(time: number): string {
  const ms = Math.floor(time);
  return ms > 0 ? `${ms - 1}-18446744073709551615` : '0-0';
}

function toEntries(raw: readonly RawEntry[], out: BusEntry[]): void {
  for (const [id, fields] of raw) {
    const payload = fields?.[1];
    if (payload !== undefined) out.push({ id: id.toString(), payload });
  }
}

function checkTtl(ttlMs: number): void {
  if (!(ttlMs >= 1)) throw new RangeError(`lease ttl must be at least 1 ms, got ${ttlMs}`);
}

function checkShard(shard: number, shards: number): number {
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new RangeError(`shard ${shard} is outside 0..${shards - 1}`);
  }
  return shard;
}

/** A child connection the bus must close when it closes. */
interface Closeable {
  close(): Promise<void>;
}

/** What the bus has opened; a child created while or after the bus closes is closed at once. */
class Children {
  readonly #open = new Set<Closeable>();
  #closed = false;

  add<T extends Closeable>(child: T): T {
    if (this.#closed) void child.close();
    else this.#open.add(child);
    return child;
  }

  remove(child: Closeable): void {
    this.#open.delete(child);
  }

  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#open].map((child) => child.close()));
  }
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

class RedisTickStreams implements TickStreams {
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

/** Creates `group` at the start of `key` (and the stream, if missing); an existing group is kept. */
async function createGroup(client: Client, key: string, group: string): Promise<void> {
  try {
    await client.xGroupCreate(key, group, '0', { MKSTREAM: true });
  } catch (err) {
    if (!(err instanceof ErrorReply && err.message.startsWith('BUSYGROUP'))) throw err;
  }
}

function isNoGroup(err: unknown): boolean {
  return err instanceof ErrorReply && err.message.startsWith('NOGROUP');
}

class RedisWorkConsumer implements WorkConsumer {
  readonly #main: Client;
  readonly #conn: Client;
  readonly #connecting: Promise<unknown>;
  readonly #key: string;
  readonly #group: string;
  readonly #consumer: string;
  readonly #logger: Logger;
  readonly #onClose: () => void;
  #closed = false;

  constructor(
    main: Client,
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
    this.#conn = supervise(main.duplicate({ name }), 'work-consumer', logger);
    this.#connecting = this.#conn.connect();
    // read() awaits it and reports the failure; until then it must not count as unhandled.
    this.#connecting.catch(() => undefined);
  }

  async read({ count, blockMs }: { count: number; blockMs: number }): Promise<BusEntry[]> {
    if (this.#closed) return [];
    const args = ['XREADGROUP', 'GROUP', this.#group, this.#consumer, 'COUNT', String(count)];
    if (blockMs > 0) args.push('BLOCK', String(blockMs));
    args.push('STREAMS', this.#key, '>');
    try {
      await this.#connecting;
      const reply = await this.#conn.sendCommand<RawStreams>(args, { typeMapping: BUFFERS });
      const out: BusEntry[] = [];
      for (const [, entries] of reply ?? []) toEntries(entries, out);
      return out;
    } catch (err) {
      if (this.#closed) return [];
      if (isNoGroup(err)) {
        await this.#recreateGroup(err);
        return [];
      }
      if (err instanceof ErrorReply) throw err;
      // Anything delivered on the lost connection stays pending and is recovered by claimStale.
      readFailed(this.#main, this.#logger, err, 'work read failed, resuming after reconnect');
      return [];
    }
  }

  async ack(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const [acked] = await this.#main
      .multi()
      .xAck(this.#key, this.#group, [...ids])
      .xDel(this.#key, [...ids])
      .execTyped();
    return acked;
  }

  async claimStale({ minIdleMs, count }: { minIdleMs: number; count: number }): Promise<BusEntry[]> {
    const out: BusEntry[] = [];
    if (count < 1) return out;
    let cursor = '0-0';
    do {
      let reply: RawAutoClaim;
      try {
        reply = await this.#main.sendCommand<RawAutoClaim>(
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
          { typeMapping: BUFFERS },
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

class RedisWorkStream implements WorkStream {
  readonly name: string;
  readonly #main: Client;
  readonly #key: string;
  readonly #children: Children;
  readonly #logger: Logger;

  constructor(main: Client, name: string, prefix: string, children: Children, logger: Logger) {
    this.name = name;
    this.#main = main;
    this.#key = `${prefix}:work:{${name}}`;
    this.#children = children;
    this.#logger = logger;
  }

  async add(payloads: ReadonlyArray<Buffer | string>): Promise<string[]> {
    if (payloads.length === 0) return [];
    const pipeline = this.#main.multi();
    for (const payload of payloads) pipeline.xAdd(this.#key, '*', { d: payload });
    return pipeline.execAsPipelineTyped();
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
    const summary = await this.#main.xPending(this.#key, group);
    return summary.pending;
  }

  length(): Promise<number> {
    return this.#main.xLen(this.#key);
  }
}

function parseControl(payload: Buffer): ControlMessage | undefined {
  const value: unknown = JSON.parse(payload.toString());
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  return typeof (value as { type?: unknown }).type === 'string' ? (value as ControlMessage) : undefined;
}

class RedisSubscription implements Subscription {
  readonly #main: Client;
  readonly #conn: Client;
  readonly #key: string;
  readonly #handler: (message: ControlMessage) => void;
  readonly #options: ControlSubscribeOptions;
  readonly #logger: Logger;
  readonly #onClose: () => void;
  readonly #loop: Promise<void>;
  #closed = false;

  constructor(
    main: Client,
    conn: Client,
    key: string,
    from: string,
    handler: (message: ControlMessage) => void,
    options: ControlSubscribeOptions,
    logger: Logger,
    onClose: () => void,
  ) {
    this.#main = main;
    this.#conn = conn;
    this.#key = key;
    this.#handler = handler;
    this.#options = options;
    this.#logger = logger;
    this.#onClose = onClose;
    this.#loop = this.#run(from);
  }

  async #run(from: string): Promise<void> {
    let position = from;
    let epoch = this.#conn.socketEpoch;
    let lost = false;
    const onSocketLost = () => {
      if (lost || this.#closed) return;
      lost = true;
      this.#call(this.#options.onDisconnect, 'disconnect');
    };
    // Told at once when the socket drops, not only when the blocked read fails or returns.
    this.#conn.on('error', onSocketLost);
    this.#conn.on('reconnecting', onSocketLost);
    while (!this.#closed) {
      try {
        if (lost || this.#conn.socketEpoch !== epoch) {
          if (!lost) this.#call(this.#options.onDisconnect, 'disconnect');
          // A new connection may have missed messages (e.g. trimmed while away). Resume from the
          // current end, taken before onResync so nothing published after its reload is lost.
          position = await lastId(this.#conn, this.#key);
          epoch = this.#conn.socketEpoch;
          lost = false;
          this.#call(this.#options.onResync, 'resync');
        }
        const reply = await this.#conn.sendCommand<RawStreams>(
          ['XREAD', 'COUNT', CONTROL_BATCH, 'BLOCK', CONTROL_BLOCK_MS, 'STREAMS', this.#key, position],
          { typeMapping: BUFFERS },
        );
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            position = id.toString();
            const payload = fields?.[1];
            if (payload !== undefined && !this.#closed) this.#deliver(payload);
          }
        }
      } catch (err) {
        if (this.#closed) return;
        onSocketLost();
        readFailed(this.#main, this.#logger, err, 'control read failed, resyncing after reconnect');
        await sleep(RETRY_PAUSE_MS);
      }
    }
  }

  #deliver(payload: Buffer): void {
    try {
      const message = parseControl(payload);
      if (message === undefined) this.#logger.error('control message without a type, skipped');
      else this.#handler(message);
    } catch (err) {
      this.#logger.error({ err }, 'control handler failed');
    }
  }

  #call(callback: (() => void) | undefined, what: string): void {
    if (callback === undefined) return;
    try {
      callback();
    } catch (err) {
      this.#logger.error({ err }, `control ${what} handler failed`);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClose();
    this.#conn.destroy();
    await this.#loop;
  }
}

class RedisControlChannel implements ControlChannel {
  readonly #main: Client;
  readonly #key: string;
  readonly #maxLen: string;
  readonly #children: Children;
  readonly #logger: Logger;

  constructor(main: Client, options: RedisBusOptions, children: Children) {
    this.#main = main;
    this.#key = `${options.prefix}:control`;
    this.#maxLen = String(options.controlMaxLen);
    this.#children = children;
    this.#logger = options.logger;
  }

  async publish(message: ControlMessage): Promise<void> {
    await this.#main.sendCommand([
      'XADD',
      this.#key,
      'MAXLEN',
      '~',
      this.#maxLen,
      '*',
      'd',
      JSON.stringify(message),
    ]);
  }

  async subscribe(
    handler: (message: ControlMessage) => void,
    options: ControlSubscribeOptions = {},
  ): Promise<Subscription> {
    const name = connectionName(`${this.#key}:subscriber`);
    const conn = supervise(this.#main.duplicate({ name }), 'control-subscriber', this.#logger);
    let from: string;
    try {
      [from] = await Promise.all([lastId(this.#main, this.#key), conn.connect()]);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    const subscription: RedisSubscription = new RedisSubscription(
      this.#main,
      conn,
      this.#key,
      from,
      handler,
      options,
      this.#logger,
      () => this.#children.remove(subscription),
    );
    return this.#children.add(subscription);
  }
}

class RedisKeyValues implements KeyValues {
  readonly #main: Client;
  readonly #prefix: string;

  constructor(main: Client, prefix: string) {
    this.#main = main;
    this.#prefix = prefix;
  }

  async setFields(key: string, fields: ReadonlyMap<string, Buffer | string>): Promise<void> {
    if (fields.size === 0) return;
    const args: Array<string | Buffer> = ['HSET', `${this.#prefix}:kv:{${key}}`];
    for (const [field, value] of fields) args.push(field, value);
    await this.#main.sendCommand(args);
  }

  getField(key: string, field: string): Promise<Buffer | null> {
    return this.#main.sendCommand<Buffer | null>(['HGET', `${this.#prefix}:kv:{${key}}`, field], {
      typeMapping: BUFFERS,
    });
  }

  async getFields(key: string, fields: readonly string[]): Promise<Array<Buffer | null>> {
    if (fields.length === 0) return [];
    return this.#main.sendCommand<Array<Buffer | null>>(['HMGET', `${this.#prefix}:kv:{${key}}`, ...fields], {
      typeMapping: BUFFERS,
    });
  }
}

/** A Lua script run by digest, loaded on first use and again after a server restart forgets it. */
class Script {
  readonly #source: string;
  readonly #sha: string;

  constructor(source: string) {
    this.#source = source;
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Client, key: string, args: string[]): Promise<unknown> {
    const options = { keys: [key], arguments: args };
    try {
      return await client.evalSha(this.#sha, options);
    } catch (err) {
      if (!(err instanceof ErrorReply && err.message.startsWith('NOSCRIPT'))) throw err;
      return client.eval(this.#source, options);
    }
  }
}

class RedisLeases implements Leases {
  readonly #main: Client;
  readonly #prefix: string;
  readonly #acquire = new Script(ACQUIRE_SCRIPT);
  readonly #release = new Script(RELEASE_SCRIPT);

  constructor(main: Client, prefix: string) {
    this.#main = main;
    this.#prefix = prefix;
  }

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const key = `${this.#prefix}:lease:{${name}}`;
    return (await this.#acquire.run(this.#main, key, [holder, String(Math.ceil(ttlMs))])) === 1;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.#release.run(this.#main, `${this.#prefix}:lease:{${name}}`, [holder]);
  }
}

class RedisSessionSlots implements SessionSlots {
  readonly #main: Client;
  readonly #prefix: string;
  readonly #acquire = new Script(SESSION_ACQUIRE_SCRIPT);
  readonly #count = new Script(SESSION_COUNT_SCRIPT);
  readonly #held = new Script(SESSION_HELD_SCRIPT);

  constructor(main: Client, prefix: string) {
    this.#main = main;
    this.#prefix = prefix;
  }

  async acquire(
    group: string,
    id: string,
    limit: number,
    ttlMs: number,
  ): Promise<{ held: boolean; count: number }> {
    if (!(ttlMs >= 1)) throw new RangeError(`session ttl must be at least 1 ms, got ${ttlMs}`);
    const reply = (await this.#acquire.run(this.#main, this.#key(group), [
      id,
      String(limit),
      String(Math.ceil(ttlMs)),
    ])) as [number, number];
    return { held: reply[0] === 1, count: reply[1] };
  }

  async release(group: string, id: string): Promise<void> {
    await this.#main.zRem(this.#key(group), id);
  }

  async count(group: string): Promise<number> {
    return (await this.#count.run(this.#main, this.#key(group), [])) as number;
  }

  async held(group: string, id: string): Promise<boolean> {
    return ((await this.#held.run(this.#main, this.#key(group), [id])) as number) === 1;
  }

  #key(group: string): string {
    return `${this.#prefix}:sessions:{${group}}`;
  }
}

class RedisBus implements Bus {
  readonly kind = 'redis';
  readonly ticks: RedisTickStreams;
  readonly control: RedisControlChannel;
  readonly kv: RedisKeyValues;
  readonly leases: RedisLeases;
  readonly sessions: RedisSessionSlots;
  readonly #main: Client;
  readonly #options: RedisBusOptions;
  readonly #children = new Children();
  readonly #work = new Map<string, RedisWorkStream>();

  constructor(main: Client, options: RedisBusOptions) {
    this.#main = main;
    this.#options = options;
    this.ticks = new RedisTickStreams(main, options, this.#children);
    this.control = new RedisControlChannel(main, options, this.#children);
    this.kv = new RedisKeyValues(main, options.prefix);
    this.leases = new RedisLeases(main, options.prefix);
    this.sessions = new RedisSessionSlots(main, options.prefix);
  }

  work(name: string): WorkStream {
    let stream = this.#work.get(name);
    if (stream === undefined) {
      stream = new RedisWorkStream(
        this.#main,
        name,
        this.#options.prefix,
        this.#children,
        this.#options.logger,
      );
      this.#work.set(name, stream);
    }
    return stream;
  }

  async health(): Promise<BusHealth> {
    if (!this.#main.isReady) return { ok: false, reason: 'redis is not connected' };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`redis did not answer PING within ${HEALTH_TIMEOUT_MS} ms`)),
        HEALTH_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([this.#main.ping(), timeout]);
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.#children.closeAll();
    await shutdown(this.#main);
  }
}

/**
 * Connects the shared connection, retrying for `connectRetryMs` until Redis answers: in a scaled
 * deployment Redis may start a little after the hub. Past that, an `UnreachableError` says so
 * (an operator needs to hear it; a hang with the port closed tells nobody anything).
 */
export async function openRedisBus(options: RedisBusOptions): Promise<Bus> {
  const boot = bootStrategy(options.connectRetryMs);
  const main = supervise(
    newClient(options.url, connectionName(`${options.prefix}:bus`), boot.strategy),
    'bus',
    options.logger,
  );
  const started = Date.now();
  try {
    await main.connect();
  } catch (err) {
    main.destroy();
    throw new UnreachableError({ what: 'Redis', url: options.url }, Date.now() - started, failureReason(err));
  }
  boot.connected();
  return new RedisBus(main, options);
}
