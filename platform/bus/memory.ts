/**
 * The bus inside one process (embedded default), with the semantics of the Redis implementation:
 * `<ms>-<seq>` ids, trimmed tick streams, blocking reads, consumer groups with pending entries,
 * broadcast control messages, key/values, leases and session slots. Entries and their payload
 * Buffers are stored and handed to every reader as-is, never copied: readers must not modify them.
 */
import type { Logger } from '../logger.js';
import type {
  Bus,
  BusEntry,
  BusHealth,
  ControlChannel,
  ControlMessage,
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
export interface MemoryBusOptions {
  shards: number;
  tickMaxLen: number;
  logger: Logger;
}

/** Dropped slots are reclaimed once at least this many have piled up at the front of a log. */
const COMPACT_AFTER = 1024;

/** Stream ids as Redis makes them: the clock in ms, then a sequence within the same ms. */
class IdClock {
  #ms = 0;
  #seq = 0;

  next(): string {
    const now = Date.now();
    if (now > this.#ms) {
      this.#ms = now;
      this.#seq = 0;
    } else {
      this.#seq++;
    }
    return `${this.#ms}-${this.#seq}`;
  }
}

/**
 * Entries addressed by absolute position (0 for the first entry ever appended), so a reader's
 * position is one number that stays valid while the front is trimmed away.
 */
class Log<E> {
  #items: Array<E | undefined> = [];
  /** Absolute position of `#items[0]`. */
  #offset = 0;
  /** Index in `#items` of the first slot that may still hold an entry. */
  #head = 0;

  get start(): number {
    return this.#offset + this.#head;
  }

  get end(): number {
    return this.#offset + this.#items.length;
  }

  append(entry: E): number {
    this.#items.push(entry);
    return this.end - 1;
  }

  at(position: number): E | undefined {
    return this.#items[position - this.#offset];
  }

  /** Drops every entry before `position`. */
  dropBefore(position: number): void {
    const head = Math.min(position - this.#offset, this.#items.length);
    if (head <= this.#head) return;
    this.#items.fill(undefined, this.#head, head);
    this.#head = head;
    this.#compact();
  }

  remove(position: number): void {
    const index = position - this.#offset;
    if (index < this.#head || index >= this.#items.length) return;
    this.#items[index] = undefined;
    while (this.#head < this.#items.length && this.#items[this.#head] === undefined) this.#head++;
    this.#compact();
  }

  #compact(): void {
    if (this.#head < COMPACT_AFTER || this.#head * 2 < this.#items.length) return;
    this.#items = this.#items.slice(this.#head);
    this.#offset += this.#head;
    this.#head = 0;
  }
}

/** Readers blocked on a stream; an append wakes them all and they look again. */
class Waiters {
  readonly #wakers = new Set<() => void>();

  add(waker: () => void): void {
    this.#wakers.add(waker);
  }

  delete(waker: () => void): void {
    this.#wakers.delete(waker);
  }

  wake(): void {
    if (this.#wakers.size === 0) return;
    const wakers = [...this.#wakers];
    this.#wakers.clear();
    for (const waker of wakers) waker();
  }
}

/** Resolves when any of `sources` wakes or after `ms`, whichever comes first. */
function waitAny(sources: readonly Waiters[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const source of sources) source.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const source of sources) source.add(done);
  });
}

/** Repeats `take` until it finds something, `blockMs` runs out, or the reader closes. */
async function blockingRead<T>(
  take: () => T[],
  blockMs: number,
  sources: readonly Waiters[],
  isClosed: () => boolean,
): Promise<T[]> {
  const deadline = Date.now() + blockMs;
  for (;;) {
    if (isClosed()) return [];
    const taken = take();
    if (taken.length > 0) return taken;
    const left = deadline - Date.now();
    if (left <= 0) return taken;
    await waitAny(sources, left);
  }
}

/** The ms part of a `<ms>-<seq>` id. */
function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Position of the first entry of `log` stored at or after `time`: ids increase, so a binary search. */
function positionAt(log: Log<ShardEntry>, time: number): number {
  let low = log.start;
  let high = log.end;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const entry = log.at(mid);
    if (entry !== undefined && idTime(entry.id) >= time) high = mid;
    else low = mid + 1;
  }
  return low;
}

function startPosition(log: Log<ShardEntry>, from: StartFrom): number {
  if (from === 'latest') return log.end;
  if (from === 'earliest') return 0;
  return positionAt(log, from.time);
}

function checkShard(shard: number, shards: number): number {
  if (!Number.isInteger(shard) || shard < 0 || shard >= shards) {
    throw new RangeError(`shard ${shard} is outside 0..${shards - 1}`);
  }
  return shard;
}

/** Whether the bus is still open; shared so children stop when it closes. */
class Lifecycle {
  closed = false;
  readonly #children = new Set<{ close(): Promise<void> }>();

  check(): void {
    if (this.closed) throw new Error('the bus is closed');
  }

  /** A child created after the bus closed is closed at once, as over Redis. */
  adopt<T extends { close(): Promise<void> }>(child: T): T {
    if (this.closed) void child.close();
    else this.#children.add(child);
    return child;
  }

  release(child: { close(): Promise<void> }): void {
    this.#children.delete(child);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.#children].map((child) => child.close()));
  }
}

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

class MemoryTickStreams implements TickStreams {
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

interface PendingEntry {
  consumer: string;
  deliveredAt: number;
}

class Group {
  /** Absolute log position of the next entry never delivered to this group. */
  next = 0;
  /** Delivered and not yet acknowledged, by id. */
  readonly pending = new Map<string, PendingEntry>();
}

class MemoryWorkConsumer implements WorkConsumer {
  readonly #stream: MemoryWorkStream;
  readonly #group: string;
  readonly #consumer: string;
  readonly #wakeOnClose = new Waiters();
  readonly #lifecycle: Lifecycle;
  #closed = false;

  constructor(stream: MemoryWorkStream, group: string, consumer: string, lifecycle: Lifecycle) {
    this.#stream = stream;
    this.#group = group;
    this.#consumer = consumer;
    this.#lifecycle = lifecycle;
  }

  async read({ count, blockMs }: { count: number; blockMs: number }): Promise<BusEntry[]> {
    const group = this.#stream.group(this.#group);
    return blockingRead(
      () => this.#stream.deliver(group, this.#consumer, count),
      blockMs,
      [this.#stream.waiters, this.#wakeOnClose],
      () => this.#closed,
    );
  }

  async ack(ids: readonly string[]): Promise<number> {
    const group = this.#stream.group(this.#group);
    let acked = 0;
    for (const id of ids) {
      if (group.pending.delete(id)) acked++;
      this.#stream.delete(id);
    }
    return acked;
  }

  async claimStale({ minIdleMs, count }: { minIdleMs: number; count: number }): Promise<BusEntry[]> {
    const group = this.#stream.group(this.#group);
    const now = Date.now();
    const stale: Array<{ position: number; entry: BusEntry; pending: PendingEntry }> = [];
    for (const [id, pending] of group.pending) {
      if (now - pending.deliveredAt < minIdleMs) continue;
      const found = this.#stream.lookup(id);
      // Like XAUTOCLAIM: an entry deleted while pending leaves the pending list.
      if (found === undefined) group.pending.delete(id);
      else stale.push({ ...found, pending });
    }
    stale.sort((a, b) => a.position - b.position);
    const claimed = stale.slice(0, count);
    for (const { pending } of claimed) {
      pending.consumer = this.#consumer;
      pending.deliveredAt = now;
    }
    return claimed.map(({ entry }) => entry);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#lifecycle.release(this);
    this.#wakeOnClose.wake();
  }
}

class MemoryWorkStream implements WorkStream {
  readonly name: string;
  readonly waiters = new Waiters();
  readonly #log = new Log<BusEntry>();
  readonly #positions = new Map<string, number>();
  readonly #clock = new IdClock();
  readonly #groups = new Map<string, Group>();
  readonly #lifecycle: Lifecycle;

  constructor(name: string, lifecycle: Lifecycle) {
    this.name = name;
    this.#lifecycle = lifecycle;
  }

  async add(payloads: ReadonlyArray<Buffer | string>): Promise<string[]> {
    this.#lifecycle.check();
    const ids = payloads.map((payload) => {
      const id = this.#clock.next();
      const position = this.#log.append({
        id,
        payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      });
      this.#positions.set(id, position);
      return id;
    });
    this.waiters.wake();
    return ids;
  }

  async ensureGroup(group: string): Promise<void> {
    if (!this.#groups.has(group)) this.#groups.set(group, new Group());
  }

  consumer(group: string, consumer: string): WorkConsumer {
    return this.#lifecycle.adopt(new MemoryWorkConsumer(this, group, consumer, this.#lifecycle));
  }

  async pendingCount(group: string): Promise<number> {
    return this.group(group).pending.size;
  }

  async length(): Promise<number> {
    return this.#positions.size;
  }

  /** Like Redis, a group must exist before it is read: a typo fails loudly instead of reading nothing. */
  group(name: string): Group {
    const group = this.#groups.get(name);
    if (group === undefined)
      throw new Error(`NOGROUP no consumer group '${name}' on work stream '${this.name}'`);
    return group;
  }

  deliver(group: Group, consumer: string, count: number): BusEntry[] {
    const out: BusEntry[] = [];
    const deliveredAt = Date.now();
    let position = Math.max(group.next, this.#log.start);
    for (; position < this.#log.end && out.length < count; position++) {
      const entry = this.#log.at(position);
      if (entry === undefined) continue;
      group.pending.set(entry.id, { consumer, deliveredAt });
      out.push(entry);
    }
    group.next = position;
    return out;
  }

  lookup(id: string): { position: number; entry: BusEntry } | undefined {
    const position = this.#positions.get(id);
    const entry = position === undefined ? undefined : this.#log.at(position);
    return position === undefined || entry === undefined ? undefined : { position, entry };
  }

  delete(id: string): void {
    const position = this.#positions.get(id);
    if (position === undefined) return;
    this.#positions.delete(id);
    this.#log.remove(position);
  }
}

class MemorySubscription implements Subscription {
  readonly #handler: (message: ControlMessage) => void;
  readonly #logger: Logger;
  readonly #queue: string[] = [];
  readonly #onClose: () => void;
  #scheduled = false;
  #closed = false;

  constructor(handler: (message: ControlMessage) => void, logger: Logger, onClose: () => void) {
    this.#handler = handler;
    this.#logger = logger;
    this.#onClose = onClose;
  }

  /** Queued and delivered later, as over Redis: a publisher never runs subscribers' code inline. */
  push(json: string): void {
    this.#queue.push(json);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    const messages = this.#queue.splice(0);
    for (const json of messages) {
      if (this.#closed) return;
      try {
        // Parsed per subscriber so each gets its own copy with exactly what JSON carries, as over Redis.
        this.#handler(JSON.parse(json) as ControlMessage);
      } catch (err) {
        this.#logger.error({ err }, 'control handler failed');
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    this.#onClose();
  }
}

class MemoryControlChannel implements ControlChannel {
  readonly #subscriptions = new Set<MemorySubscription>();
  readonly #logger: Logger;
  readonly #lifecycle: Lifecycle;

  constructor(logger: Logger, lifecycle: Lifecycle) {
    this.#logger = logger;
    this.#lifecycle = lifecycle;
  }

  async publish(message: ControlMessage): Promise<void> {
    this.#lifecycle.check();
    const json = JSON.stringify(message);
    for (const subscription of this.#subscriptions) subscription.push(json);
  }

  /** `onDisconnect` and `onResync` are never called: nothing is lost in one process. */
  async subscribe(handler: (message: ControlMessage) => void): Promise<Subscription> {
    this.#lifecycle.check();
    const subscription: MemorySubscription = new MemorySubscription(handler, this.#logger, () => {
      this.#subscriptions.delete(subscription);
      this.#lifecycle.release(subscription);
    });
    this.#subscriptions.add(subscription);
    return this.#lifecycle.adopt(subscription);
  }
}

class MemoryKeyValues implements KeyValues {
  readonly #hashes = new Map<string, Map<string, Buffer>>();

  async setFields(key: string, fields: ReadonlyMap<string, Buffer | string>): Promise<void> {
    let hash = this.#hashes.get(key);
    if (hash === undefined) {
      hash = new Map();
      this.#hashes.set(key, hash);
    }
    for (const [field, value] of fields)
      hash.set(field, typeof value === 'string' ? Buffer.from(value) : value);
  }

  async getField(key: string, field: string): Promise<Buffer | null> {
    return this.#hashes.get(key)?.get(field) ?? null;
  }

  async getFields(key: string, fields: readonly string[]): Promise<Array<Buffer | null>> {
    const hash = this.#hashes.get(key);
    return fields.map((field) => hash?.get(field) ?? null);
  }
}

class MemoryLeases implements Leases {
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>();

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    if (!(ttlMs >= 1)) throw new RangeError(`lease ttl must be at least 1 ms, got ${ttlMs}`);
    const now = Date.now();
    const lease = this.#leases.get(name);
    if (lease !== undefined && lease.holder !== holder && lease.expiresAt > now) return false;
    this.#leases.set(name, { holder, expiresAt: now + ttlMs });
    return true;
  }

  async release(name: string, holder: string): Promise<void> {
    if (this.#leases.get(name)?.holder === holder) this.#leases.delete(name);
  }
}

class MemorySessionSlots implements SessionSlots {
  /** Expiry instant of each held slot, by group. */
  readonly #groups = new Map<string, Map<string, number>>();

  async acquire(
    group: string,
    id: string,
    limit: number,
    ttlMs: number,
  ): Promise<{ held: boolean; count: number }> {
    if (!(ttlMs >= 1)) throw new RangeError(`session ttl must be at least 1 ms, got ${ttlMs}`);
    const now = Date.now();
    let slots = this.#groups.get(group);
    if (slots === undefined) {
      slots = new Map();
      this.#groups.set(group, slots);
    }
    for (const [slot, expiresAt] of slots) if (expiresAt <= now) slots.delete(slot);
    if (slots.has(id) || slots.size < limit) {
      slots.set(id, now + ttlMs);
      return { held: true, count: slots.size };
    }
    return { held: false, count: slots.size };
  }

  async release(group: string, id: string): Promise<void> {
    const slots = this.#groups.get(group);
    if (slots === undefined) return;
    slots.delete(id);
    if (slots.size === 0) this.#groups.delete(group);
  }

  async count(group: string): Promise<number> {
    const slots = this.#groups.get(group);
    if (slots === undefined) return 0;
    const now = Date.now();
    let count = 0;
    for (const expiresAt of slots.values()) if (expiresAt > now) count++;
    return count;
  }

  async held(group: string, id: string): Promise<boolean> {
    const expiresAt = this.#groups.get(group)?.get(id);
    return expiresAt !== undefined && expiresAt > Date.now();
  }
}

class MemoryBus implements Bus {
  readonly kind = 'memory';
  readonly ticks: MemoryTickStreams;
  readonly control: MemoryControlChannel;
  readonly kv = new MemoryKeyValues();
  readonly leases = new MemoryLeases();
  readonly sessions = new MemorySessionSlots();
  readonly #work = new Map<string, MemoryWorkStream>();
  readonly #lifecycle = new Lifecycle();

  constructor(options: MemoryBusOptions) {
    this.ticks = new MemoryTickStreams(options.shards, options.tickMaxLen, this.#lifecycle);
    this.control = new MemoryControlChannel(options.logger, this.#lifecycle);
  }

  work(name: string): WorkStream {
    let stream = this.#work.get(name);
    if (stream === undefined) {
      stream = new MemoryWorkStream(name, this.#lifecycle);
      this.#work.set(name, stream);
    }
    return stream;
  }

  async health(): Promise<BusHealth> {
    return this.#lifecycle.closed ? { ok: false, reason: 'the bus is closed' } : { ok: true };
  }

  async close(): Promise<void> {
    await this.#lifecycle.close();
  }
}

/** The embedded bus: one process, nothing to install, state gone when the process exits. */
export function createMemoryBus(options: MemoryBusOptions): Bus {
  return new MemoryBus(options);
}
