/**
 * The bus carries three kinds of traffic, each with a Redis Streams implementation (scaled mode)
 * and an in-process one (embedded default). Payloads are opaque bytes: the producer chooses the
 * encoding. Every call is async on both implementations so callers never depend on which one runs.
 */

/** One stream entry. `id` is `<ms>-<seq>` on both implementations and increases within a stream. */
export interface BusEntry {
  id: string;
  payload: Buffer;
}

export interface ShardEntry extends BusEntry {
  shard: number;
}

/**
 * Where a tick reader starts: only entries added after it opens, everything still retained, the
 * first retained entry whose id time (the ms part of `<ms>-<seq>`, the time it was stored) is at
 * or after `time` (epoch ms), or just after the ids in `after` (one per shard, in the reader's
 * `shards` order). Reading back in time only finds what trimming (`maxLen`) kept.
 */
export type StartFrom = 'latest' | 'earliest' | { time: number } | { after: readonly string[] };

/**
 * What a tick stream still holds, to tell whether reading after an id misses nothing. `epoch`
 * changes whenever the stream's history restarted (a Redis that lost its data): ids of another
 * epoch say nothing about this one. Everything after `deletedThrough` is retained (`0-0`:
 * nothing was ever trimmed; otherwise at least the greatest id trimmed away); `lastId` is the newest entry's id (`0-0`: none).
 */
export interface Retention {
  epoch: string;
  deletedThrough: string;
  lastId: string;
}

/**
 * Market data: batches of ticks on `shards` streams (a symbol always maps to the same shard),
 * each trimmed to roughly `maxLen` entries so memory stays bounded.
 */
export interface TickStreams {
  readonly shards: number;
  /** Appends batches (pipelined); resolves when all are stored. */
  publish(batches: ReadonlyArray<{ shard: number; payload: Buffer }>): Promise<void>;
  /** A reader over the given shards (default: all), with its own connection for blocking reads. */
  reader(options?: { shards?: readonly number[]; from?: StartFrom }): TickReader;
  /** Every shard's retention, in shard order (one round trip; makes the epoch if it is missing). */
  retention(): Promise<Retention[]>;
}

export interface TickReader {
  /**
   * Entries after the reader's position, at most `count` per shard, waiting up to `blockMs` when
   * there are none (then resolving to []). Advances the position past what it returns.
   */
  next(options: { count: number; blockMs: number }): Promise<ShardEntry[]>;
  /** Where the reader started, per shard in `shards` order: the id it reads after (`0-0`: the start). */
  started(): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * A durable work stream read by consumer groups (usage events → meters). An entry stays pending
 * until acknowledged; a dead consumer's pending entries are claimed by another after `minIdleMs`.
 */
export interface WorkStream {
  readonly name: string;
  add(payloads: ReadonlyArray<Buffer | string>): Promise<string[]>;
  /** Creates the group if missing (idempotent); a new group starts at the beginning of the stream. */
  ensureGroup(group: string): Promise<void>;
  consumer(group: string, consumer: string): WorkConsumer;
  /** Number of entries delivered to the group and not yet acknowledged. */
  pendingCount(group: string): Promise<number>;
  length(): Promise<number>;
}

export interface WorkConsumer {
  /** New entries for this consumer, waiting up to `blockMs`. */
  read(options: { count: number; blockMs: number }): Promise<BusEntry[]>;
  /**
   * Entries already delivered to this consumer and not yet acknowledged, oldest first (XREADGROUP
   * with id 0): what a reply lost with its connection, or a failed acknowledgement, left with it.
   * An entry deleted while pending is dropped from the pending list, not returned.
   */
  readPending(options: { count: number }): Promise<BusEntry[]>;
  /** Acknowledges entries; returns how many were pending. */
  ack(ids: readonly string[]): Promise<number>;
  /** Takes over entries pending longer than `minIdleMs` with any consumer (XAUTOCLAIM). */
  claimStale(options: { minIdleMs: number; count: number }): Promise<BusEntry[]>;
  /**
   * A heartbeat: resets the idle time of these entries, pending with this consumer while it works
   * on them, so another consumer's `claimStale` leaves them alone (XCLAIM … JUSTID). An entry
   * another consumer has claimed meanwhile becomes this one's again; acknowledged ones are skipped.
   */
  touch(ids: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** A JSON-serialisable control message; `type` says what changed. */
export interface ControlMessage {
  type: string;
  [key: string]: unknown;
}

/**
 * Broadcast of control messages (entitlement changes, …) to every subscriber in every process.
 * A subscriber that may have missed messages (bus reconnect) is told through `onResync`, and
 * must reload its state from the system of record.
 */
export interface ControlChannel {
  publish(message: ControlMessage): Promise<void>;
  subscribe(
    handler: (message: ControlMessage) => void,
    options?: ControlSubscribeOptions,
  ): Promise<Subscription>;
}

export interface ControlSubscribeOptions {
  /**
   * Called as soon as the subscription loses its connection, before anything it might have missed
   * is known: a subscriber that must not act on stale state (the edge's entitlements) stops here.
   */
  onDisconnect?: () => void;
  /** Called once the connection is back: messages may have been missed; reload from the source. */
  onResync?: () => void;
}

export interface Subscription {
  close(): Promise<void>;
}

/** Shared key/value state: the last-value cache and similar small, overwrite-only data. */
export interface KeyValues {
  /** Sets many fields of one hash at once. */
  setFields(key: string, fields: ReadonlyMap<string, Buffer | string>): Promise<void>;
  getField(key: string, field: string): Promise<Buffer | null>;
  /** Many fields of one hash in one round trip, in the order asked (null where absent). */
  getFields(key: string, fields: readonly string[]): Promise<Array<Buffer | null>>;
}

/** A time-bounded lease (leader election): at most one holder at a time per name. */
export interface Leases {
  /** Takes the lease if free, or renews it if `holder` has it; true when `holder` holds it now. */
  acquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` has it. */
  release(name: string, holder: string): Promise<void>;
}

/**
 * Concurrent sessions per group (a user), shared by every process on the bus: a group holds at
 * most `limit` slots at once. A slot lapses unless renewed within its ttl, so a process that dies
 * frees its slots by itself.
 */
export interface SessionSlots {
  /**
   * Renews slot `id` of `group` if held; otherwise takes it if fewer than `limit` unexpired slots
   * are held, in one atomic step. `held` says whether `id` holds a slot now; `count` is the number
   * of slots the group holds after the call.
   */
  acquire(group: string, id: string, limit: number, ttlMs: number): Promise<{ held: boolean; count: number }>;
  /** Frees slot `id` of `group` (nothing happens if it is not held). */
  release(group: string, id: string): Promise<void>;
  /** Unexpired slots `group` holds. */
  count(group: string): Promise<number>;
  /** Whether slot `id` of `group` is held and unexpired now; changes nothing. */
  held(group: string, id: string): Promise<boolean>;
}

/** `detail`: what was reached (`redis`, `redis cluster`); `reason`: why not, naming the variable. */
export type BusHealth = { ok: true; detail?: string } | { ok: false; reason: string };

export interface Bus {
  readonly kind: 'redis' | 'memory';
  readonly ticks: TickStreams;
  /** The same name always gives the same stream. */
  work(name: string): WorkStream;
  readonly control: ControlChannel;
  readonly kv: KeyValues;
  readonly leases: Leases;
  readonly sessions: SessionSlots;
  health(): Promise<BusHealth>;
  close(): Promise<void>;
}

export interface OpenBusOptions {
  /** `redis://…` of one Redis node; when neither this nor `clusterUrls` is set the in-process bus is used. */
  url?: string;
  /**
   * Seed nodes (`redis://host:port`) of a Redis Cluster, instead of `url`: the bus runs on
   * node-redis's cluster client and follows failovers. Setting both is an error.
   */
  clusterUrls?: readonly string[];
  /** Prefix of every Redis key (default `mdhub`); tests use a unique one per file. */
  prefix?: string;
  /** Number of tick shards (default 16). */
  shards?: number;
  /** Approximate entries kept per tick stream (default 100 000). */
  tickMaxLen?: number;
  /** Approximate entries kept on the control stream (default 10 000). */
  controlMaxLen?: number;
  /**
   * How long opening a Redis bus retries before rejecting with an `UnreachableError` (ms; default:
   * until Redis answers). Only the first connection: once up, the bus reconnects for ever.
   */
  connectRetryMs?: number;
}
