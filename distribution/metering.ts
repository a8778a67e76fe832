/**
 * Display metering (DESIGN rule 6). Real-time deliveries are counted in memory per session and
 * product — integer additions on plain arrays, nothing allocated per event — and leave the edge
 * as usage events: each (user, product, UTC day)'s first real-time delivery at once, the counts
 * every `flushMs`, at a day boundary and when a session closes, plus session open/close and
 * REST queries. Nothing here touches the database; events go to the bus through the spool.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { TokenUsage } from '../entitlements/index.js';
import {
  dayNumber,
  dayString,
  type QueryType,
  USAGE_EVENT_VERSION,
  type UsageEvent,
} from '../usage/index.js';
import type { ProductTable } from './products.js';
import type { UsageSpool } from './spool.js';

/** A session's counters, one slot per product: since the last flush, and the day last accessed. */
export class MeterCounts {
  readonly counts: number[];
  readonly firstAt: number[];
  readonly lastAt: number[];
  /** UTC day number of the last real-time delivery, per product (-1 never). */
  readonly accessDay: number[];

  constructor(products: number) {
    this.counts = new Array<number>(products).fill(0);
    this.firstAt = new Array<number>(products).fill(0);
    this.lastAt = new Array<number>(products).fill(0);
    this.accessDay = new Array<number>(products).fill(-1);
  }
}

/** What metering knows of a session. */
export interface MeteredSession {
  readonly id: string;
  readonly userId: string;
  readonly deviceId: string | undefined;
  /** What the session's token was issued for; undefined means a person's display. */
  readonly usage: TokenUsage | undefined;
  readonly openedAt: number;
  readonly meter: MeterCounts;
}

export interface QueryUsage {
  userId: string;
  deviceId: string | undefined;
  usage: TokenUsage | undefined;
  product: number;
  symbol: string;
  type: QueryType;
  mode: 'realtime' | 'delayed';
  requestId: string;
  at: number;
}

export interface MeteringOptions {
  edgeId: string;
  products: ProductTable;
  spool: UsageSpool;
  /** How often counters become `deliveries` events. */
  flushMs: number;
  now?: () => number;
}

export class Metering {
  readonly #edge: string;
  readonly #products: ProductTable;
  readonly #spool: UsageSpool;
  readonly #flushMs: number;
  readonly #now: () => number;
  readonly #sessions = new Set<MeteredSession>();
  /** (user, product, usage) whose first access today was sent; today being `#day`. */
  readonly #accessed = new Set<string>();
  #day: number;
  #timer: NodeJS.Timeout | undefined;
  /** Counter flushes postponed because the spool was full. */
  deferredFlushes = 0;

  constructor(options: MeteringOptions) {
    this.#edge = options.edgeId;
    this.#products = options.products;
    this.#spool = options.spool;
    this.#flushMs = options.flushMs;
    this.#now = options.now ?? Date.now;
    this.#day = dayNumber(this.#now());
  }

  start(): void {
    this.#timer ??= setInterval(() => this.flush(this.#now()), this.#flushMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  opened(session: MeteredSession): void {
    this.#sessions.add(session);
    this.#emit({
      ...this.#common(session, session.openedAt),
      kind: 'session_open',
      session: session.id,
    });
  }

  /** Flushes the session's counters, then records its end. */
  closed(session: MeteredSession, at: number, reason: string): void {
    if (!this.#sessions.delete(session)) return;
    this.#flushSession(session, at, true);
    this.#emit({
      ...this.#common(session, at),
      kind: 'session_close',
      session: session.id,
      openedAt: session.openedAt,
      reason,
    });
  }

  /**
   * Adds real-time deliveries, `counts[p]` events of product p, delivered to `session` at `at`.
   * The hot path: array reads and integer additions; an event only on a day's first access.
   */
  count(session: MeteredSession, counts: ArrayLike<number>, at: number): void {
    const day = Math.floor(at / 86_400_000);
    if (day !== this.#day) this.#rollover(at, day);
    const meter = session.meter;
    for (let p = 0; p < counts.length; p++) {
      const n = counts[p] as number;
      if (n === 0) continue;
      if (meter.counts[p] === 0) meter.firstAt[p] = at;
      meter.counts[p] = (meter.counts[p] as number) + n;
      meter.lastAt[p] = at;
      if (meter.accessDay[p] !== day) {
        meter.accessDay[p] = day;
        this.#firstAccess(session, p, day, at);
      }
    }
  }

  query(usage: QueryUsage): void {
    this.#emit({
      ...this.#common(usage, usage.at),
      kind: 'query',
      product: this.#productId(usage.product),
      symbol: usage.symbol,
      type: usage.type,
      mode: usage.mode,
      requestId: usage.requestId,
    });
  }

  /** Turns every session's counters into `deliveries` events (unless the spool is full and `force` unset). */
  flush(at: number, force = false): void {
    const day = dayNumber(at);
    if (day !== this.#day) {
      this.#rollover(at, day);
      return;
    }
    if (this.#spool.full && !force) {
      this.deferredFlushes++;
      return;
    }
    for (const session of this.#sessions) this.#flushSession(session, at, force);
  }

  #rollover(at: number, day: number): void {
    // Counts so far belong to the day that ended: flushed under it whatever the spool holds.
    for (const session of this.#sessions) this.#flushSession(session, at, true);
    this.#day = day;
    this.#accessed.clear();
  }

  #flushSession(session: MeteredSession, at: number, force: boolean): void {
    if (this.#spool.full && !force) return;
    const meter = session.meter;
    for (let p = 0; p < meter.counts.length; p++) {
      const count = meter.counts[p] as number;
      if (count === 0) continue;
      this.#emit({
        ...this.#common(session, at, this.#day),
        kind: 'deliveries',
        session: session.id,
        product: this.#productId(p),
        count,
        firstAt: meter.firstAt[p] as number,
        lastAt: meter.lastAt[p] as number,
      });
      meter.counts[p] = 0;
    }
  }

  #firstAccess(session: MeteredSession, product: number, day: number, at: number): void {
    const productId = this.#productId(product);
    // An application's first access is a use of its own: named apart from the person's, so
    // neither hides the other. The display name is the one edges always gave it.
    const named =
      session.usage === 'non_display'
        ? [session.userId, productId, dayString(day), 'non_display']
        : [session.userId, productId, dayString(day)];
    const key = JSON.stringify(named);
    if (this.#accessed.has(key)) return;
    this.#accessed.add(key);
    const id = `fa_${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
    this.#emit({
      ...this.#common(session, at, day),
      id,
      kind: 'first_access',
      session: session.id,
      product: productId,
    });
  }

  #productId(index: number): string {
    return (this.#products.list[index] as { id: string }).id;
  }

  #common(
    who: { userId: string; deviceId: string | undefined; usage: TokenUsage | undefined },
    at: number,
    day = dayNumber(at),
  ) {
    const common = {
      v: USAGE_EVENT_VERSION,
      id: randomUUID(),
      edge: this.#edge,
      at,
      day: dayString(day),
      user: who.userId,
      device: who.deviceId ?? null,
    } as const;
    // Display events stay as they always were; only an application's carry the field.
    return who.usage === 'non_display' ? { ...common, usage: 'non_display' as const } : common;
  }

  #emit(event: UsageEvent): void {
    this.#spool.push(event);
  }
}
