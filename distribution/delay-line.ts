/**
 * The delay line: every event, held until its vendor time plus the product's delay, then handed
 * to delayed subscribers (DESIGN rule 4). Never early: an event is released only when the edge's
 * clock reaches `t + delay` for the newest `t` in its bucket, so for every event it holds.
 *
 * Memory is bounded by conflation. Events are grouped by vendor time into buckets of `intervalMs`;
 * a bucket keeps only the latest event per (type, symbol), copied out of the tick batch so no batch
 * is retained. The line's bytes are accounted against one budget shared by every product:
 *
 *   held bytes ≈ Σ over buckets of (distinct type+symbol keys in the bucket) × (event JSON + ~160)
 *             ≤ delayLineBytes
 *
 * With a 15-minute delay and 1 s buckets that is 900 × keys × ~400 B, so the interval widens as the
 * budget fills: each new bucket is twice as wide while more than half the budget is used, and
 * narrows again below a quarter (1 s, 2 s, 4 s, …, at most delay / 8). At the budget itself a
 * new key is not stored (counted as dropped); keys already held keep being updated. Delayed
 * subscribers therefore see the latest value per type and symbol once per bucket, at most one
 * bucket width later than `t + delay`, never earlier.
 *
 * Every event goes into the bucket covering its vendor time (one is opened in a gap when needed),
 * so buckets stay ordered by time and none waits on a later one: an event stamped far ahead
 * (ingest drops those, `future_time`) holds back only itself.
 *
 * Released values are also kept per (type, symbol), one each, for delayed REST snapshots: the
 * value as of now − delay.
 */

import { CHANNEL_TYPES } from './channels.js';

/** What a bucket holds per key; released slots are kept as the delayed last value. */
export interface Slot {
  readonly type: number;
  readonly sym: string;
  t: number;
  buf: Buffer;
  len: number;
}

/** Estimated bytes a slot costs beyond its JSON: the object, its Map entry and the Buffer header. */
const SLOT_OVERHEAD = 160;
/** Slot buffers are rounded up so a slightly longer event of the same key fits in place. */
const SLOT_ROUND = 32;
const TYPES = CHANNEL_TYPES.length;

class Bucket {
  readonly start: number;
  readonly end: number;
  maxT = Number.NEGATIVE_INFINITY;
  bytes = 0;
  entries = 0;
  readonly maps: Array<Map<string, Slot> | undefined> = new Array(TYPES);

  constructor(start: number, end: number) {
    this.start = start;
    this.end = end;
  }
}

/** Bytes held by every delay line of an edge, against one bound. */
export class DelayBudget {
  used = 0;
  entries = 0;
  /** New keys not stored because the budget was reached. */
  dropped = 0;
  readonly max: number;

  constructor(max: number) {
    this.max = max;
  }
}

export type ReleaseVisitor = (slot: Slot) => void;

/** The delay line of one product. */
export class DelayLine {
  readonly delayMs: number;
  readonly #intervalMs: number;
  readonly #maxWidth: number;
  readonly #budget: DelayBudget;
  /** Ordered by start; the first is the next to be released. */
  readonly #buckets: Bucket[] = [];
  #width: number;

  constructor(delayMs: number, intervalMs: number, budget: DelayBudget) {
    this.delayMs = delayMs;
    this.#intervalMs = intervalMs;
    let widest = intervalMs;
    while (widest * 2 <= delayMs / 8) widest *= 2;
    this.#maxWidth = widest;
    this.#width = intervalMs;
    this.#budget = budget;
  }

  /** When the oldest bucket is due (epoch ms), Infinity when empty. */
  get due(): number {
    const first = this.#buckets[0];
    return first === undefined ? Number.POSITIVE_INFINITY : first.maxT + this.delayMs;
  }

  get buckets(): number {
    return this.#buckets.length;
  }

  /**
   * Vendor times from here on may still be held (the oldest held bucket's start; Infinity when
   * none is): an event before it that was added has been released.
   */
  get heldFrom(): number {
    return this.#buckets[0]?.start ?? Number.POSITIVE_INFINITY;
  }

  /** Holds an event; `json` is copied, so it may be a view into a batch the caller reuses. */
  add(type: number, sym: string, t: number, json: Buffer): void {
    const buckets = this.#buckets;
    let bucket = buckets[buckets.length - 1];
    if (bucket === undefined || t >= bucket.end) bucket = this.#open(t, bucket);
    else if (t < bucket.start) bucket = this.#find(t);
    let map = bucket.maps[type];
    if (map === undefined) {
      map = new Map();
      bucket.maps[type] = map;
    }
    const slot = map.get(sym);
    const budget = this.#budget;
    if (slot !== undefined) {
      // Events of one key may arrive out of order across shards; the newest one stays.
      if (t < slot.t) return;
      if (json.length > slot.buf.length) {
        const grown = roundUp(json.length);
        if (budget.used + grown - slot.buf.length > budget.max) {
          budget.dropped++;
          return;
        }
        budget.used += grown - slot.buf.length;
        bucket.bytes += grown - slot.buf.length;
        slot.buf = Buffer.allocUnsafe(grown);
      }
      json.copy(slot.buf);
      slot.len = json.length;
      slot.t = t;
    } else {
      const size = roundUp(json.length);
      const cost = size + SLOT_OVERHEAD;
      if (budget.used + cost > budget.max) {
        budget.dropped++;
        return;
      }
      const buf = Buffer.allocUnsafe(size);
      json.copy(buf);
      map.set(sym, { type, sym, t, buf, len: json.length });
      budget.used += cost;
      budget.entries++;
      bucket.bytes += cost;
      bucket.entries++;
    }
    if (t > bucket.maxT) bucket.maxT = t;
  }

  /** Hands every due bucket's slots to `visit`, oldest bucket first; returns how many slots. */
  release(now: number, visit: ReleaseVisitor): number {
    let released = 0;
    const budget = this.#budget;
    for (;;) {
      const bucket = this.#buckets[0];
      if (bucket === undefined || bucket.maxT + this.delayMs > now) return released;
      this.#buckets.shift();
      budget.used -= bucket.bytes;
      budget.entries -= bucket.entries;
      released += bucket.entries;
      for (const map of bucket.maps) {
        if (map === undefined) continue;
        for (const slot of map.values()) visit(slot);
      }
    }
  }

  /** A new last bucket for `t`, as wide as the budget allows now. */
  #open(t: number, last: Bucket | undefined): Bucket {
    const budget = this.#budget;
    if (budget.used * 2 > budget.max) this.#width = Math.min(this.#width * 2, this.#maxWidth);
    else if (budget.used * 4 < budget.max) this.#width = Math.max(this.#width / 2, this.#intervalMs);
    const width = this.#width;
    const start = Math.max(Math.floor(t / width) * width, last?.end ?? Number.NEGATIVE_INFINITY);
    const bucket = new Bucket(start, Math.max(start + width, t + 1));
    this.#buckets.push(bucket);
    return bucket;
  }

  /**
   * The bucket holding `t`, opening one in the gap when no bucket does. Never the next bucket
   * after a gap: that one may lie far ahead (a vendor time in the future, a quiet spell), and an
   * event placed there would wait for it, holding back every later event up to it too.
   */
  #find(t: number): Bucket {
    const buckets = this.#buckets;
    // The last bucket starts after `t`, or `add` would not have come here.
    let i = buckets.length - 2;
    while (i >= 0 && (buckets[i] as Bucket).start > t) i--;
    const before = buckets[i];
    if (before !== undefined && t < before.end) return before;
    const after = buckets[i + 1] as Bucket;
    const width = this.#width;
    const start = Math.max(Math.floor(t / width) * width, before?.end ?? Number.NEGATIVE_INFINITY);
    const bucket = new Bucket(start, Math.min(start + width, after.start));
    buckets.splice(i + 1, 0, bucket);
    return bucket;
  }
}

function roundUp(bytes: number): number {
  return Math.ceil(bytes / SLOT_ROUND) * SLOT_ROUND;
}

export interface DelaySink {
  /** One released slot of product `product`. */
  offerDelayed(product: number, slot: Slot): void;
  /** Every due slot has been offered: send what was gathered. */
  endDelayed(): void;
}

/**
 * Every product's delay line, one timer for all of them, and the last released value per
 * (type, symbol) for delayed REST snapshots.
 */
export class DelayLines {
  readonly lines: readonly DelayLine[];
  readonly budget: DelayBudget;
  readonly #sink: DelaySink;
  readonly #released: Array<Map<string, Slot>> = Array.from({ length: TYPES }, () => new Map());
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #stopped = false;
  #product = 0;
  readonly #visit: ReleaseVisitor = (slot) => {
    this.#sink.offerDelayed(this.#product, slot);
    (this.#released[slot.type] as Map<string, Slot>).set(slot.sym, slot);
  };

  constructor(options: {
    delays: readonly number[];
    intervalMs: number;
    maxBytes: number;
    sink: DelaySink;
    now?: () => number;
  }) {
    this.budget = new DelayBudget(options.maxBytes);
    this.lines = options.delays.map((delay) => new DelayLine(delay, options.intervalMs, this.budget));
    this.#sink = options.sink;
    this.#now = options.now ?? Date.now;
  }

  /** The largest delay: how far back a fresh edge reads to fill the lines. */
  get maxDelayMs(): number {
    return Math.max(0, ...this.lines.map((line) => line.delayMs));
  }

  /** The latest released value of a type and symbol (vendor time ≤ now − delay), if any. */
  releasedValue(type: number, sym: string): Slot | undefined {
    return this.#released[type]?.get(sym);
  }

  /**
   * When a delayed subscriber of `sym` on `product` can expect its first update (epoch ms): the
   * oldest held bucket's due time, or a whole delay from now when nothing is held yet. Undefined
   * once a delayed value of it has been released: delayed data is flowing.
   */
  firstDelayedAt(product: number, type: number, sym: string, now: number): number | undefined {
    if (this.releasedValue(type, sym) !== undefined) return undefined;
    const line = this.lines[product];
    if (line === undefined) return undefined;
    const due = line.due;
    return Number.isFinite(due) ? Math.max(now, due) : now + line.delayMs;
  }

  /** Arms the timer for the earliest due bucket; call after adding. */
  schedule(): void {
    if (this.#stopped) return;
    let due = Number.POSITIVE_INFINITY;
    for (const line of this.lines) if (line.due < due) due = line.due;
    if (due >= this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#armedFor = due;
    this.#timer = setTimeout(() => this.#fire(), Math.max(0, due - this.#now()));
    this.#timer.unref();
  }

  /** Releases everything due now to the sink. */
  releaseDue(): void {
    const now = this.#now();
    let released = 0;
    this.lines.forEach((line, product) => {
      this.#product = product;
      released += line.release(now, this.#visit);
    });
    if (released > 0) this.#sink.endDelayed();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    this.releaseDue();
    this.schedule();
  }
}
