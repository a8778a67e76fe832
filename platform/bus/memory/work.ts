import type { BusEntry, WorkConsumer, WorkStream } from '../types.js';
import type { Lifecycle } from './lifecycle.js';
import { blockingRead, IdClock, Log, Waiters } from './log.js';

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

  async readPending({ count }: { count: number }): Promise<BusEntry[]> {
    const group = this.#stream.group(this.#group);
    const mine: Array<{ position: number; entry: BusEntry }> = [];
    for (const [id, pending] of group.pending) {
      if (pending.consumer !== this.#consumer) continue;
      const found = this.#stream.lookup(id);
      if (found === undefined) group.pending.delete(id);
      else mine.push(found);
    }
    mine.sort((a, b) => a.position - b.position);
    return mine.slice(0, Math.max(0, count)).map(({ entry }) => entry);
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

  async touch(ids: readonly string[]): Promise<void> {
    this.#lifecycle.check();
    const group = this.#stream.group(this.#group);
    const now = Date.now();
    for (const id of ids) {
      const pending = group.pending.get(id);
      if (pending === undefined) continue;
      pending.consumer = this.#consumer;
      pending.deliveredAt = now;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#lifecycle.release(this);
    this.#wakeOnClose.wake();
  }
}

export class MemoryWorkStream implements WorkStream {
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
