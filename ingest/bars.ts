/**
 * The bar builder: second (`A`) and minute (`AM`) bars from the trades ingest sees, as Polygon
 * defines them, for every symbol. Plain synchronous code over per-symbol state; nothing here
 * touches the bus.
 *
 * - A trade moves a bar by its conditions (ingest/conditions.ts): high/low, open/close, and
 *   volume (with VWAP and the trade count) each only when every condition allows it.
 * - Windows are aligned to vendor time: `[s, e)` with `s` a multiple of 1 s or 60 s. A window
 *   closes when a trade of the same symbol at or after `e` arrives, or when `advance(now)` finds
 *   `now ≥ e + graceMs` (trades a little late on the wire still make their window). A window with
 *   no trade that sets open/close emits no bar (Polygon sends no bar for a second without
 *   trades); its volume still counts in the day's.
 * - A trade older than its symbol's open window (late beyond the grace) counts only in the day's
 *   totals: a bar once sent is not sent again.
 * - The day is New York's (ingest/trading-day.ts): `op` is the day's first trade that sets
 *   open/close, `av` the day's volume so far, `a` the day's VWAP; at New York midnight the day's
 *   summary becomes `prev`, the previous day of snapshots and `/v2/aggs/…/prev`.
 * - `z` of a bar is its average trade size (volume / trades, rounded), as on Polygon's socket.
 *
 * `state`/`restore` carry a symbol's day and its open minute over an ingest failover.
 */
import { tradeRules, UPDATES_HIGH_LOW, UPDATES_OPEN_CLOSE, UPDATES_VOLUME } from './conditions.js';
import type { Aggregate, Tape } from './event.js';
import { TradingDays } from './trading-day.js';

/** One bar as REST serves it (Polygon's aggregate fields) plus the day as of its end. */
export interface StoredBar {
  /** Window start, epoch ms. */
  t: number;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
  vw: number;
  n: number;
  /** The day as of the bar's end: volume, official open, VWAP, high and low. */
  av: number;
  op: number;
  a: number;
  dh: number;
  dl: number;
}

/** A day's summary, Polygon's `day` / `prevDay` fields. */
export interface DaySummary {
  date: string;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
  vw: number;
  n: number;
}

/** A window being built. `o` is NaN until a trade sets open/close. */
interface Window {
  s: number;
  o: number;
  h: number;
  l: number;
  c: number;
  v: number;
  /** Σ price × size of the volume trades. */
  pv: number;
  n: number;
}

/** What survives a failover: a symbol's day so far and its open minute. */
export interface SymbolBarState {
  sym: string;
  tape: Tape;
  date: string;
  /** NaN (serialised null) until the day's first open/close trade. */
  op: number | null;
  dh: number | null;
  dl: number | null;
  dc: number | null;
  av: number;
  pv: number;
  dn: number;
  prev: DaySummary | null;
  /** The last minute bar closed, for a snapshot's `min`. */
  lastMin: StoredBar | null;
  /** The minute being built. */
  minute: {
    s: number;
    o: number | null;
    h: number | null;
    l: number | null;
    c: number | null;
    v: number;
    pv: number;
    n: number;
  } | null;
}

export class SymbolBars {
  readonly sym: string;
  tape: Tape;
  date = '';
  dayStart = 0;
  dayEnd = 0;
  op = Number.NaN;
  dh = Number.NaN;
  dl = Number.NaN;
  dc = Number.NaN;
  av = 0;
  pv = 0;
  dn = 0;
  prev: DaySummary | undefined;
  lastMin: StoredBar | undefined;
  second: Window | undefined;
  minute: Window | undefined;
  /** Start of the last second and minute window closed: trades behind them are late. */
  secondSent = Number.NEGATIVE_INFINITY;
  minuteSent = Number.NEGATIVE_INFINITY;
  /** Whether anything changed since the store last took the state. */
  changed = false;
  /** Whether the symbol is in the builder's list of symbols with an open window. */
  listed = false;

  constructor(sym: string, tape: Tape) {
    this.sym = sym;
    this.tape = tape;
  }

  /** Back to knowing nothing of the day (the objects stay: the pipeline's slots hold them). */
  reset(): void {
    this.date = '';
    this.dayStart = 0;
    this.dayEnd = 0;
    this.op = Number.NaN;
    this.dh = Number.NaN;
    this.dl = Number.NaN;
    this.dc = Number.NaN;
    this.av = 0;
    this.pv = 0;
    this.dn = 0;
    this.prev = undefined;
    this.lastMin = undefined;
    this.second = undefined;
    this.minute = undefined;
    this.secondSent = Number.NEGATIVE_INFINITY;
    this.minuteSent = Number.NEGATIVE_INFINITY;
    this.changed = false;
    this.listed = false;
  }
}

export interface BarSink {
  /** A closed bar: the socket event, and the same bar as stored for REST. */
  bar(bar: Aggregate, tape: Tape, stored: StoredBar): void;
}

export interface BarBuilderOptions {
  sink: BarSink;
  /** How long after a window's end `advance` waits for late trades before closing it (default 200 ms). */
  graceMs?: number;
}

const newWindow = (s: number): Window => ({
  s,
  o: Number.NaN,
  h: Number.NaN,
  l: Number.NaN,
  c: Number.NaN,
  v: 0,
  pv: 0,
  n: 0,
});

const nullable = (x: number): number | null => (Number.isNaN(x) ? null : x);
const numeric = (x: number | null | undefined): number => (x === null || x === undefined ? Number.NaN : x);

export class BarBuilder {
  readonly #sink: BarSink;
  readonly graceMs: number;
  readonly #symbols = new Map<string, SymbolBars>();
  /** Symbols with an open window, for `advance`. */
  #open: SymbolBars[] = [];
  readonly #days = new TradingDays();

  constructor(options: BarBuilderOptions) {
    this.#sink = options.sink;
    this.graceMs = options.graceMs ?? 200;
  }

  /** The state of `sym`, created on first use; the pipeline keeps it on the symbol's slot. */
  symbol(sym: string, tape: Tape): SymbolBars {
    let bars = this.#symbols.get(sym);
    if (bars === undefined) {
      bars = new SymbolBars(sym, tape);
      this.#symbols.set(sym, bars);
    }
    return bars;
  }

  get symbols(): Iterable<SymbolBars> {
    return this.#symbols.values();
  }

  /** Forgets every symbol's day (the lease is gone: a new term restores from the store). */
  clear(): void {
    for (const bars of this.#symbols.values()) bars.reset();
    this.#open = [];
  }

  /** One trade of `bars`' symbol at vendor time `t` (ms). */
  trade(bars: SymbolBars, tape: Tape, t: number, p: number, s: number, conditions?: ArrayLike<number>): void {
    bars.tape = tape;
    if (t >= bars.dayEnd || t < bars.dayStart) {
      if (t < bars.dayStart) {
        // A trade from before the day already started: nothing of it can be shown any more.
        return;
      }
      this.#closeAll(bars);
      this.#rollDay(bars, t);
    }
    const rules = tradeRules(conditions);
    this.#into(bars, 'A', 1_000, t, p, s, rules);
    this.#into(bars, 'AM', 60_000, t, p, s, rules);
    if (rules & UPDATES_HIGH_LOW) {
      if (!(p <= bars.dh)) bars.dh = p;
      if (!(p >= bars.dl)) bars.dl = p;
    }
    if (rules & UPDATES_OPEN_CLOSE) {
      if (Number.isNaN(bars.op)) bars.op = p;
      bars.dc = p;
    }
    if (rules & UPDATES_VOLUME) {
      bars.av += s;
      bars.pv += p * s;
      bars.dn++;
    }
    bars.changed = true;
    if (!bars.listed) {
      bars.listed = true;
      this.#open.push(bars);
    }
  }

  /**
   * Closes every window whose end is `graceMs` behind `now`. The day itself rolls over with the
   * symbol's first trade of the next day; readers tell a stale day by its date.
   */
  advance(now: number): void {
    const due = now - this.graceMs;
    const still: SymbolBars[] = [];
    for (const bars of this.#open) {
      if (bars.second !== undefined && bars.second.s + 1_000 <= due) this.#close(bars, 'A', 1_000);
      if (bars.minute !== undefined && bars.minute.s + 60_000 <= due) this.#close(bars, 'AM', 60_000);
      if (bars.second !== undefined || bars.minute !== undefined) still.push(bars);
      else bars.listed = false;
    }
    this.#open = still;
  }

  /** What a new leader needs to continue the symbol's day and minute. */
  state(bars: SymbolBars): SymbolBarState {
    const m = bars.minute;
    return {
      sym: bars.sym,
      tape: bars.tape,
      date: bars.date,
      op: nullable(bars.op),
      dh: nullable(bars.dh),
      dl: nullable(bars.dl),
      dc: nullable(bars.dc),
      av: bars.av,
      pv: bars.pv,
      dn: bars.dn,
      prev: bars.prev ?? null,
      lastMin: bars.lastMin ?? null,
      minute:
        m === undefined
          ? null
          : {
              s: m.s,
              o: nullable(m.o),
              h: nullable(m.h),
              l: nullable(m.l),
              c: nullable(m.c),
              v: m.v,
              pv: m.pv,
              n: m.n,
            },
    };
  }

  /**
   * Continues from a state the previous leader stored. A state of another day still gives the
   * previous day; a symbol this builder has already traded keeps its own, newer state.
   */
  restore(state: SymbolBarState, now: number): void {
    const bars = this.symbol(state.sym, state.tape);
    if (bars.date !== '') return;
    const today = this.#days.of(now);
    if (state.date !== today.date) {
      const summary = daySummary(state);
      bars.prev = summary ?? state.prev ?? undefined;
      return;
    }
    bars.date = today.date;
    bars.dayStart = today.start;
    bars.dayEnd = today.end;
    bars.op = numeric(state.op);
    bars.dh = numeric(state.dh);
    bars.dl = numeric(state.dl);
    bars.dc = numeric(state.dc);
    bars.av = state.av;
    bars.pv = state.pv;
    bars.dn = state.dn;
    bars.prev = state.prev ?? undefined;
    bars.lastMin = state.lastMin ?? undefined;
    if (bars.lastMin !== undefined) bars.minuteSent = bars.lastMin.t;
    const m = state.minute;
    if (m !== null) {
      bars.minute = {
        s: m.s,
        o: numeric(m.o),
        h: numeric(m.h),
        l: numeric(m.l),
        c: numeric(m.c),
        v: m.v,
        pv: m.pv,
        n: m.n,
      };
      bars.listed = true;
      this.#open.push(bars);
    }
  }

  #into(
    bars: SymbolBars,
    ev: 'A' | 'AM',
    width: number,
    t: number,
    p: number,
    s: number,
    rules: number,
  ): void {
    let w = ev === 'A' ? bars.second : bars.minute;
    const start = t - (t % width);
    if (w !== undefined && start > w.s) {
      this.#close(bars, ev, width);
      w = undefined;
    }
    if (w === undefined) {
      // A trade behind a bar already sent goes to the day's totals only.
      if (ev === 'A' ? bars.secondSent >= start : bars.minuteSent >= start) return;
      w = newWindow(start);
      if (ev === 'A') bars.second = w;
      else bars.minute = w;
    } else if (start < w.s) {
      return;
    }
    if (rules & UPDATES_HIGH_LOW) {
      if (!(p <= w.h)) w.h = p;
      if (!(p >= w.l)) w.l = p;
    }
    if (rules & UPDATES_OPEN_CLOSE) {
      if (Number.isNaN(w.o)) w.o = p;
      w.c = p;
    }
    if (rules & UPDATES_VOLUME) {
      w.v += s;
      w.pv += p * s;
      w.n++;
    }
  }

  #close(bars: SymbolBars, ev: 'A' | 'AM', width: number): void {
    const w = ev === 'A' ? bars.second : bars.minute;
    if (w === undefined) return;
    if (ev === 'A') {
      bars.second = undefined;
      bars.secondSent = w.s;
    } else {
      bars.minute = undefined;
      bars.minuteSent = w.s;
    }
    if (Number.isNaN(w.o)) return;
    const vw = w.v > 0 ? w.pv / w.v : w.c;
    const a = bars.av > 0 ? bars.pv / bars.av : vw;
    // High and low include every trade allowed to set them, and never exclude the open or close.
    const h = Math.max(numericOr(w.h, w.o), w.o, w.c);
    const l = Math.min(numericOr(w.l, w.o), w.o, w.c);
    const op = Number.isNaN(bars.op) ? w.o : bars.op;
    const bar: Aggregate = {
      ev,
      sym: bars.sym,
      v: w.v,
      av: bars.av,
      op,
      vw: round4(vw),
      o: w.o,
      c: w.c,
      h,
      l,
      a: round4(a),
      z: w.n > 0 ? Math.round(w.v / w.n) : 0,
      s: w.s,
      e: w.s + width,
      otc: undefined,
    };
    const stored: StoredBar = {
      t: w.s,
      o: w.o,
      h,
      l,
      c: w.c,
      v: w.v,
      vw: bar.vw,
      n: w.n,
      av: bars.av,
      op,
      a: bar.a,
      dh: Math.max(numericOr(bars.dh, h), h),
      dl: Math.min(numericOr(bars.dl, l), l),
    };
    if (ev === 'AM') bars.lastMin = stored;
    bars.changed = true;
    this.#sink.bar(bar, bars.tape, stored);
  }

  #closeAll(bars: SymbolBars): void {
    this.#close(bars, 'A', 1_000);
    this.#close(bars, 'AM', 60_000);
  }

  /** Starts the day holding `t`; the day that ends becomes `prev` if anything traded in it. */
  #rollDay(bars: SymbolBars, t: number): void {
    const summary = bars.date === '' ? undefined : daySummary(this.state(bars));
    if (summary !== undefined) bars.prev = summary;
    const day = this.#days.of(t);
    bars.date = day.date;
    bars.dayStart = day.start;
    bars.dayEnd = day.end;
    bars.op = Number.NaN;
    bars.dh = Number.NaN;
    bars.dl = Number.NaN;
    bars.dc = Number.NaN;
    bars.av = 0;
    bars.pv = 0;
    bars.dn = 0;
    bars.lastMin = undefined;
    bars.changed = true;
  }
}

/** The day a state describes, if a trade set its open. */
export function daySummary(state: SymbolBarState): DaySummary | undefined {
  if (state.op === null || state.dc === null) return undefined;
  const h = Math.max(state.dh ?? state.op, state.op, state.dc);
  const l = Math.min(state.dl ?? state.op, state.op, state.dc);
  return {
    date: state.date,
    o: state.op,
    h,
    l,
    c: state.dc,
    v: state.av,
    vw: state.av > 0 ? round4(state.pv / state.av) : state.dc,
    n: state.dn,
  };
}

function numericOr(x: number, fallback: number): number {
  return Number.isNaN(x) ? fallback : x;
}

/** VWAPs to 4 decimals, as Polygon prints them. */
function round4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}
