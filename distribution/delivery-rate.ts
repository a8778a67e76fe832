/**
 * Per-plan delivery rate: a session whose user or grant carries `maxUpdatesPerSecond` = N for a
 * product gets at most one update per symbol and channel type in each interval of 1000 / N ms of
 * that product (so at most N in each second). Time is cut into intervals aligned on the epoch,
 * per product; within one:
 *
 * - the first update of a (type, symbol) goes out at once, in the frame it came in;
 * - later ones are held, only the latest of each (type, symbol): a newer one replaces the held
 *   value, which is counted as conflated and never sent;
 * - at the interval's end the held values go out, each counting as that next interval's update.
 *
 * So a symbol's updates reach the client in vendor order, the latest always last, and none twice:
 * a held value is sent only if nothing newer of its (type, symbol) has been, and is forgotten
 * when something newer goes out first (a late timer). A session without a rate has no throttle
 * at all: the send path checks one field and allocates nothing more.
 */
import type { ModeCode } from './products.js';
import type { EventTable } from './slow-consumer.js';

/** What the throttle reports to: the edge's conflated-events counter. */
export interface ConflationCounter {
  conflatedEvents: number;
}

/** A held value let go: its key as `Conflation` keys it (type index, then symbol). */
export interface Released {
  key: string;
  json: Buffer;
  product: number;
  realtime: boolean;
}

interface Held {
  json: Buffer;
  product: number;
  mode: ModeCode;
}

/** One product's intervals: which keys went out in the current one, and the values held for its end. */
class Gate {
  /** 0 once the rate is lifted: everything passes and what is held goes at the next release. */
  intervalMs: number;
  interval: number;
  /** Per type index, the symbols sent in `interval`. */
  readonly sent: Array<Set<string>>;
  /** Per type index, the latest value held per symbol. */
  readonly held: Array<Map<string, Held>>;
  heldCount = 0;

  constructor(rate: number, types: number, now: number) {
    this.intervalMs = 1000 / rate;
    this.interval = Math.floor(now / this.intervalMs);
    this.sent = Array.from({ length: types }, () => new Set<string>());
    this.held = Array.from({ length: types }, () => new Map<string, Held>());
  }

  /** Starts the interval `now` falls in, forgetting what was sent in an earlier one. */
  advance(now: number): void {
    if (this.intervalMs === 0) return;
    const interval = Math.floor(now / this.intervalMs);
    if (interval <= this.interval) return;
    this.interval = interval;
    for (const set of this.sent) set.clear();
  }

  /** When what is held may go: the end of the current interval. */
  dueAt(): number {
    return this.intervalMs === 0 ? 0 : (this.interval + 1) * this.intervalMs;
  }
}

export class DeliveryThrottle {
  readonly #gates: Array<Gate | undefined>;
  readonly #types: number;
  readonly #counter: ConflationCounter;
  readonly #release: () => void;
  /** The events of the current frame that pass, when some do not; reused frame after frame. */
  readonly #passed: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** When the armed release is due. */
  #armedFor = Number.POSITIVE_INFINITY;

  /**
   * @param products number of products (indices of `rates`)
   * @param types number of channel types
   * @param release called when held values are due: the session then calls `take`
   */
  constructor(products: number, types: number, counter: ConflationCounter, release: () => void) {
    this.#gates = new Array<Gate | undefined>(products).fill(undefined);
    this.#types = types;
    this.#counter = counter;
    this.#release = release;
  }

  /** The rate of each product (undefined: none); a change starts a fresh interval at `now`. */
  setRates(rates: ReadonlyArray<number | undefined>, now: number): void {
    for (let p = 0; p < this.#gates.length; p++) {
      const rate = rates[p];
      const gate = this.#gates[p];
      if (rate === undefined) {
        if (gate === undefined) continue;
        if (gate.heldCount === 0) this.#gates[p] = undefined;
        else gate.intervalMs = 0;
      } else if (gate === undefined) {
        this.#gates[p] = new Gate(rate, this.#types, now);
      } else if (gate.intervalMs !== 1000 / rate) {
        // What was sent in the old interval counts as sent in the new one: never faster than either.
        gate.intervalMs = 1000 / rate;
        gate.interval = Math.floor(now / gate.intervalMs);
      }
    }
    this.#arm(now);
  }

  /** True while some product is rated or something is held. */
  get active(): boolean {
    return this.#gates.some((gate) => gate !== undefined);
  }

  /**
   * The events of a frame that may go now: `events` itself when all may, else the ones that may
   * (possibly none), in order. The others are held as their (type, symbol)'s latest value.
   */
  admit(events: readonly number[], table: EventTable, mode: ModeCode, now: number): readonly number[] {
    let passed: number[] | undefined;
    let held = false;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as number;
      const product = table.product(event);
      const gate = this.#gates[product];
      if (gate === undefined || this.#pass(gate, table.type(event), table.sym(event), now)) {
        passed?.push(event);
        continue;
      }
      this.#hold(gate, table, event, product, mode);
      held = true;
      if (passed === undefined) {
        passed = this.#passed;
        passed.length = 0;
        for (let j = 0; j < i; j++) passed.push(events[j] as number);
      }
    }
    if (held) this.#arm(now);
    return passed ?? events;
  }

  /**
   * The held values due at `now`, each now its key's update of the interval begun; `realtime` is
   * the mode code whose values are metered.
   */
  take(now: number, realtime: ModeCode): Released[] {
    this.#disarm();
    const released: Released[] = [];
    for (let p = 0; p < this.#gates.length; p++) {
      const gate = this.#gates[p];
      if (gate === undefined || gate.heldCount === 0 || now < gate.dueAt()) continue;
      gate.advance(now);
      for (let type = 0; type < gate.held.length; type++) {
        const map = gate.held[type] as Map<string, Held>;
        for (const [sym, held] of map) {
          released.push({
            key: type + sym,
            json: held.json,
            product: held.product,
            realtime: held.mode === realtime,
          });
          (gate.sent[type] as Set<string>).add(sym);
        }
        map.clear();
      }
      gate.heldCount = 0;
      if (gate.intervalMs === 0) this.#gates[p] = undefined;
    }
    this.#arm(now);
    return released;
  }

  /** Forgets values held under a mode their product no longer has: they belong to the old stream. */
  dropStale(modes: readonly ModeCode[]): void {
    for (const gate of this.#gates) {
      if (gate === undefined || gate.heldCount === 0) continue;
      for (const map of gate.held) {
        for (const [sym, held] of map) {
          if (modes[held.product] === held.mode) continue;
          map.delete(sym);
          gate.heldCount--;
        }
      }
    }
  }

  stop(): void {
    this.#disarm();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #pass(gate: Gate, type: number, sym: string, now: number): boolean {
    gate.advance(now);
    const sent = gate.sent[type] as Set<string>;
    if (gate.intervalMs !== 0 && sent.has(sym)) return false;
    const map = gate.held[type] as Map<string, Held>;
    // A value still held from an earlier interval (its release is late) is older than this one.
    if (map.delete(sym)) {
      gate.heldCount--;
      this.#counter.conflatedEvents++;
    }
    if (gate.intervalMs !== 0) sent.add(sym);
    return true;
  }

  #hold(gate: Gate, table: EventTable, event: number, product: number, mode: ModeCode): void {
    const map = gate.held[table.type(event)] as Map<string, Held>;
    const sym = table.sym(event);
    const previous = map.get(sym);
    // Copied: the turn's batches are not retained.
    const json = Buffer.from(table.json(event));
    if (previous === undefined) {
      map.set(sym, { json, product, mode });
      gate.heldCount++;
      return;
    }
    // Map order stays the first hold's; the value is the newest.
    previous.json = json;
    previous.product = product;
    previous.mode = mode;
    this.#counter.conflatedEvents++;
  }

  /** Arms the release for the earliest interval end with something held (products' intervals differ). */
  #arm(now: number): void {
    let due = Number.POSITIVE_INFINITY;
    for (const gate of this.#gates) {
      if (gate !== undefined && gate.heldCount > 0) due = Math.min(due, gate.dueAt());
    }
    if (due >= this.#armedFor) return;
    clearTimeout(this.#timer);
    this.#armedFor = due;
    this.#timer = setTimeout(this.#release, Math.max(0, Math.ceil(due - now)));
    this.#timer.unref();
  }
}
