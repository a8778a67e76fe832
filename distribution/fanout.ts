/**
 * The hot path: tick batches in, frames out. Each turn (what the tick source read from the bus, or
 * one release of the delay line) walks the batches without parsing JSON, offers every event to the groups
 * subscribed to its channel whose mode for the event's product matches, then encodes one frame
 * per group — `[e1,e2,…]` from the events' ready JSON — and sends those same bytes to each of the
 * group's sockets. Real-time deliveries are counted for metering as they are sent.
 */
import { BatchCursor } from '../ingest/index.js';
import type { ShardEntry } from '../platform/bus/index.js';
import { typeIndex } from './channels.js';
import { type DelayLine, DelayLines, type DelaySink, type Slot } from './delay-line.js';
import type { MeteredSession, Metering } from './metering.js';
import type { EdgeStats } from './metrics.js';
import { DELAYED, type ModeCode, type ProductTable, REALTIME } from './products.js';
import type { Group, GroupMember, Router } from './routing.js';
import type { EventTable } from './slow-consumer.js';

/** What the fan-out needs of a session. */
export interface FanoutMember extends GroupMember, MeteredSession {
  /**
   * Sends (or, for a slow socket, holds) a frame of a group's events; true when it was sent and
   * its real-time events count as delivered.
   */
  deliver(frame: Buffer, group: Group<this>, table: EventTable, realtime: boolean, now: number): boolean;
}

export interface FanoutOptions<M extends FanoutMember> {
  router: Router<M>;
  products: ProductTable;
  metering: Metering;
  stats: EdgeStats;
  /** Smallest conflation interval and memory bound of the delay line. */
  delayIntervalMs: number;
  delayLineBytes: number;
  /** Observes vendor time → send, in seconds, once per real-time frame. */
  observeLatency?: (seconds: number) => void;
  now?: () => number;
}

export class Fanout<M extends FanoutMember> implements DelaySink, EventTable {
  readonly lines: DelayLines;
  readonly #router: Router<M>;
  readonly #byTape: readonly number[];
  readonly #metering: Metering;
  readonly #stats: EdgeStats;
  readonly #observe: (seconds: number) => void;
  readonly #now: () => number;
  readonly #cursor = new BatchCursor();
  #turn = 0;
  readonly #touched: Array<Group<M>> = [];
  readonly #json: Buffer[] = [];
  readonly #type: number[] = [];
  readonly #sym: string[] = [];
  readonly #product: number[] = [];
  readonly #held = new HeldEvents();

  constructor(options: FanoutOptions<M>) {
    this.#router = options.router;
    this.#byTape = options.products.byTape;
    this.#metering = options.metering;
    this.#stats = options.stats;
    this.#observe = options.observeLatency ?? (() => undefined);
    this.#now = options.now ?? Date.now;
    this.lines = new DelayLines({
      delays: options.products.list.map((product) => product.delayMs),
      intervalMs: options.delayIntervalMs,
      maxBytes: options.delayLineBytes,
      sink: this,
      now: options.now,
    });
  }

  /**
   * One read from the bus: real time to whoever may have it now, then everything into the delay
   * line. The delay line's copies wait until the frames are out: nothing delayed is due for
   * minutes, while every microsecond before the send is real-time latency. The batches are walked
   * once: what the delay line is to hold is noted on the way and handed to it after the sends.
   */
  live(entries: readonly ShardEntry[]): void {
    const turn = ++this.#turn;
    const cursor = this.#cursor;
    const held = this.#held;
    for (const entry of entries) {
      try {
        cursor.reset(entry.payload);
        while (cursor.next()) {
          const product = this.#byTape[cursor.tape] as number;
          if (product < 0) continue;
          const type = typeIndex(cursor.type);
          const json = cursor.json();
          held.note(product, type, cursor.sym, cursor.t, json);
          this.#offer(type, cursor.sym, product, cursor.t, json, REALTIME, turn);
        }
      } catch {
        this.#stats.malformedBatches++;
      }
    }
    this.#flush(true);
    held.drain(this.lines.lines);
    this.lines.schedule();
  }

  /** Entries read back from the bus on start: into the delay line only, never sent in real time. */
  backfill(entries: readonly ShardEntry[]): void {
    const cursor = this.#cursor;
    const lines = this.lines.lines;
    for (const entry of entries) {
      try {
        cursor.reset(entry.payload);
        while (cursor.next()) {
          const product = this.#byTape[cursor.tape] as number;
          if (product >= 0) lines[product]?.add(typeIndex(cursor.type), cursor.sym, cursor.t, cursor.json());
        }
      } catch {
        this.#stats.malformedBatches++;
      }
    }
    this.lines.schedule();
  }

  offerDelayed(product: number, slot: Slot): void {
    if (this.#touched.length === 0 && this.#json.length === 0) this.#turn++;
    this.#offer(slot.type, slot.sym, product, slot.t, slot.buf.subarray(0, slot.len), DELAYED, this.#turn);
  }

  endDelayed(): void {
    this.#flush(false);
  }

  json(event: number): Buffer {
    return this.#json[event] as Buffer;
  }

  type(event: number): number {
    return this.#type[event] as number;
  }

  sym(event: number): string {
    return this.#sym[event] as string;
  }

  product(event: number): number {
    return this.#product[event] as number;
  }

  #offer(
    type: number,
    sym: string,
    product: number,
    t: number,
    json: Buffer,
    mode: ModeCode,
    turn: number,
  ): void {
    const router = this.#router;
    const listed = router.bySymbol[type]?.get(sym);
    const wild = router.wildcard[type] as Array<Group<M>>;
    if (listed === undefined && wild.length === 0) return;
    let event = -1;
    if (listed !== undefined) {
      for (const group of listed) {
        if (group.modes[product] !== mode) continue;
        if (event < 0) event = this.#record(json, type, sym, product);
        this.#take(group, event, product, t, turn);
      }
    }
    for (const group of wild) {
      if (group.modes[product] !== mode) continue;
      if (event < 0) event = this.#record(json, type, sym, product);
      this.#take(group, event, product, t, turn);
    }
  }

  #record(json: Buffer, type: number, sym: string, product: number): number {
    this.#type.push(type);
    this.#sym.push(sym);
    this.#product.push(product);
    return this.#json.push(json) - 1;
  }

  #take(group: Group<M>, event: number, product: number, t: number, turn: number): void {
    if (group.turn !== turn) {
      group.turn = turn;
      group.events.length = 0;
      group.counts.fill(0);
      group.oldestT = t;
      this.#touched.push(group);
    }
    group.events.push(event);
    group.counts[product] = (group.counts[product] as number) + 1;
    if (t < group.oldestT) group.oldestT = t;
  }

  #flush(realtime: boolean): void {
    const touched = this.#touched;
    for (const group of touched) {
      const frame = this.#encode(group.events);
      // A turn's sends take milliseconds at scale, so the clock is read per group: the latency
      // observed is the send's, and the real-time guard sees a grant that ends mid-turn.
      const at = this.#now();
      if (realtime) this.#observe((at - group.oldestT) / 1000);
      for (const member of group.members) {
        if (member.deliver(frame, group, this, realtime, at) && realtime) {
          this.#metering.count(member, group.counts, at);
        }
      }
    }
    touched.length = 0;
    // Dropping the views lets the turn's batches be collected.
    this.#json.length = 0;
    this.#type.length = 0;
    this.#sym.length = 0;
    this.#product.length = 0;
  }

  #encode(events: readonly number[]): Buffer {
    const json = this.#json;
    let size = events.length + 1;
    for (const event of events) size += (json[event] as Buffer).length;
    const out = Buffer.allocUnsafe(size);
    out[0] = 0x5b;
    let at = 1;
    for (let i = 0; i < events.length; i++) {
      if (i > 0) out[at++] = 0x2c;
      at += (json[events[i] as number] as Buffer).copy(out, at);
    }
    out[at] = 0x5d;
    return out;
  }
}

/**
 * A turn's events for the delay line, noted while the turn is walked for real time and handed
 * over after its sends. The JSON are views into the turn's batches; the delay line copies them.
 */
class HeldEvents {
  readonly #product: number[] = [];
  readonly #type: number[] = [];
  readonly #sym: string[] = [];
  readonly #t: number[] = [];
  readonly #json: Buffer[] = [];

  note(product: number, type: number, sym: string, t: number, json: Buffer): void {
    this.#product.push(product);
    this.#type.push(type);
    this.#sym.push(sym);
    this.#t.push(t);
    this.#json.push(json);
  }

  drain(lines: readonly (DelayLine | undefined)[]): void {
    const n = this.#product.length;
    for (let i = 0; i < n; i++) {
      lines[this.#product[i] as number]?.add(
        this.#type[i] as number,
        this.#sym[i] as string,
        this.#t[i] as number,
        this.#json[i] as Buffer,
      );
    }
    this.#product.length = 0;
    this.#type.length = 0;
    this.#sym.length = 0;
    this.#t.length = 0;
    // Dropping the views lets the turn's batches be collected.
    this.#json.length = 0;
  }
}
