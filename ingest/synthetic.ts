/**
 * The embedded default feed: a synthetic US equities market on all three tapes. It produces
 * Polygon-format frames (JSON text), which go through the same normaliser as the vendor's, so the
 * embedded hub exercises the real path end to end. Its symbols are real tickers on their real
 * tapes (listings.ts), then — when more are asked for, as the bench does — made-up ones after
 * them; seeded with a fixed default, so every start, every test and the README's walk-through
 * see the same market.
 */
import { LULD_HALT, LULD_RESUME, type Tape } from './event.js';
import type { Feed, FeedState, FrameHandler } from './feed.js';
import { LISTINGS } from './listings.js';

/** mulberry32: small, fast, and good enough for a plausible market. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polygon exchange ids that quote and trade each tape's symbols; the listing venue first. */
const VENUES: Record<Tape, readonly number[]> = {
  1: [10, 11, 12, 8, 7, 19, 15, 21, 3],
  2: [11, 1, 12, 8, 7, 19, 15, 21, 9],
  3: [12, 11, 8, 7, 19, 18, 15, 21, 17],
};
/** FINRA's trade reporting facility: where off-exchange trades print. */
const TRF = 4;
/** Trade conditions: odd lot, intermarket sweep + trade-through exempt, Form T (extended hours). */
const ODD_LOT = [37];
const SWEEP = [14, 41];
const FORM_T = [12];

export interface Instrument {
  readonly sym: string;
  readonly tape: Tape;
  readonly name: string;
  readonly type: 'CS' | 'ETF';
  /** How far past a cent the spread may widen, in basis points of the price. */
  readonly spreadBps: number;
  /** Mid price in cents, so the walk never drifts off the penny grid. */
  midCents: number;
  /** While halted, the sequence number after which trading resumes; 0 when trading. */
  haltedUntil: number;
}

/** One event in this many is an LULD band (about two a second at the default rate). */
const LULD_EVERY = 997;
/** Share of LULD events that halt their symbol (a trading pause). */
const HALT_SHARE = 0.1;
/** How many events a halt lasts: about 10 s at the default rate. */
const HALT_EVENTS = 20_000;

const round2 = (cents: number) => Math.round(cents) / 100;

/** The seed when none is given: a fixed one, so the market is the same on every start. */
export const DEFAULT_SEED = 1;
/** Spreads of the busiest names (activity 5 and up), the others, and made-up symbols. */
const SPREAD_BPS = { busy: 1, listed: 2, madeUp: 5 } as const;

export interface SyntheticMarketOptions {
  /**
   * Number of symbols: the first `symbols` of the real listings, then made-up ones (spread over
   * tapes A, B and C roughly 40/20/40) past their end.
   */
  symbols: number;
  /** Seed of the random walk and of any made-up symbols (default DEFAULT_SEED). */
  seed?: number;
  /** Share of events that are quotes (default 0.8). */
  quoteShare?: number;
}

export class SyntheticMarket {
  readonly instruments: readonly Instrument[];
  readonly #random: () => number;
  readonly #quoteShare: number;
  /** Running sum of the instruments' activity, to pick busier symbols more often. */
  readonly #cumulative: Float64Array;
  #sequence = 0;
  #tradeId = 0;
  /** Halted instruments, in the order they were halted. */
  readonly #halted: Instrument[] = [];

  constructor(options: SyntheticMarketOptions) {
    this.#random = random(options.seed ?? DEFAULT_SEED);
    this.#quoteShare = options.quoteShare ?? 0.8;
    const activity: number[] = [];
    this.instruments = this.#list(options.symbols, activity);
    this.#cumulative = new Float64Array(activity.length);
    let sum = 0;
    for (let k = 0; k < activity.length; k++) this.#cumulative[k] = sum += activity[k]!;
  }

  /** A data frame of `count` events stamped `now`, as the vendor would send it. */
  frame(count: number, now: number): string {
    const events: unknown[] = [];
    for (let k = 0; k < count; k++) events.push(this.event(now));
    return JSON.stringify(events);
  }

  /** One vendor-shaped event (a plain object, vendor field order) on a random symbol. */
  event(now: number): Record<string, unknown> {
    const rnd = this.#random;
    if ((this.#sequence + 1) % LULD_EVERY === 0) return this.#luld(now);
    const inst = this.#pick(rnd());
    // A small random walk: about 2 basis points a step, never below a cent.
    inst.midCents = Math.max(1, Math.round(inst.midCents * (1 + (rnd() - 0.5) * 0.0004)));
    const venues = VENUES[inst.tape];
    const q = ++this.#sequence;
    // A halted symbol is quoted but does not trade.
    if (inst.haltedUntil > 0 || rnd() < this.#quoteShare) {
      const spread = 1 + Math.floor(rnd() * ((inst.midCents * inst.spreadBps) / 10_000));
      const bidCents = Math.max(1, inst.midCents - Math.ceil(spread / 2));
      const quote: Record<string, unknown> = {
        ev: 'Q',
        sym: inst.sym,
        bx: venues[Math.floor(rnd() * venues.length)],
        bp: round2(bidCents),
        bs: 100 * (1 + Math.floor(rnd() * 20)),
        ax: venues[Math.floor(rnd() * venues.length)],
        ap: round2(bidCents + spread),
        as: 100 * (1 + Math.floor(rnd() * 20)),
        c: 0,
      };
      if (rnd() < 0.1) quote.i = [604];
      quote.t = now;
      quote.q = q;
      quote.z = inst.tape;
      return quote;
    }
    const kind = rnd();
    const size = kind < 0.15 ? 1 + Math.floor(rnd() * 99) : 100 * (1 + Math.floor(rnd() * 10));
    const trade: Record<string, unknown> = {
      ev: 'T',
      sym: inst.sym,
      x: kind > 0.85 ? TRF : venues[Math.floor(rnd() * venues.length)],
      i: String(++this.#tradeId),
      z: inst.tape,
      p: round2(inst.midCents + Math.round((rnd() - 0.5) * 2)),
      s: size,
    };
    if (kind < 0.15) trade.c = ODD_LOT;
    else if (kind < 0.25) trade.c = SWEEP;
    else if (kind < 0.27) trade.c = FORM_T;
    trade.t = now;
    trade.q = q;
    return trade;
  }

  /**
   * An LULD event as Polygon sends it: the band around the price (5 %, or 20 % under $3, as the
   * LULD plan's first tier roughly has it), now and then a halt (indicator 17); a halted symbol's
   * band comes back with its resumption (18) once its time is up.
   */
  #luld(now: number): Record<string, unknown> {
    const rnd = this.#random;
    const q = ++this.#sequence;
    let inst: Instrument;
    let indicators: number[] = [];
    const due = this.#halted[0];
    if (due !== undefined && due.haltedUntil <= q) {
      this.#halted.shift();
      due.haltedUntil = 0;
      inst = due;
      indicators = [LULD_RESUME];
    } else {
      inst = this.instruments[Math.floor(rnd() * this.instruments.length)]!;
      if (inst.haltedUntil === 0 && rnd() < HALT_SHARE) {
        inst.haltedUntil = q + HALT_EVENTS;
        this.#halted.push(inst);
        indicators = [LULD_HALT];
      }
    }
    const band = inst.midCents < 300 ? 0.2 : 0.05;
    return {
      ev: 'LULD',
      T: inst.sym,
      h: round2(Math.ceil(inst.midCents * (1 + band))),
      l: round2(Math.max(1, Math.floor(inst.midCents * (1 - band)))),
      i: indicators,
      z: inst.tape,
      t: now,
      q,
    };
  }

  /** The instrument at `share` (0 ≤ share < 1) of the total activity: a binary search of the running sums. */
  #pick(share: number): Instrument {
    const sums = this.#cumulative;
    const target = share * sums[sums.length - 1]!;
    let low = 0;
    let high = sums.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (sums[mid]! > target) high = mid;
      else low = mid + 1;
    }
    return this.instruments[low]!;
  }

  /** The real listings first, then made-up symbols; each one's activity into `activity`. */
  #list(count: number, activity: number[]): Instrument[] {
    const rnd = this.#random;
    const out: Instrument[] = [];
    for (const listing of LISTINGS.slice(0, count)) {
      out.push({
        sym: listing.sym,
        tape: listing.tape,
        name: listing.name,
        type: listing.type,
        spreadBps: listing.activity >= 5 ? SPREAD_BPS.busy : SPREAD_BPS.listed,
        midCents: listing.priceCents,
        haltedUntil: 0,
      });
      activity.push(listing.activity);
    }
    const seen = new Set(out.map((inst) => inst.sym));
    while (out.length < count) {
      // The first three cover every tape; then NYSE 40 %, NYSE American/Arca 20 %, Nasdaq 40 %.
      const pick = out.length < 3 ? out.length / 3 : rnd();
      const tape: Tape = pick < 0.4 ? 1 : pick < 0.6 ? 2 : 3;
      // Nasdaq symbols run to four letters, exchange-listed ones to three; longer once those fill up.
      const maxLength = (tape === 3 ? 4 : 3) + Math.floor(seen.size / 10_000);
      const length = 1 + Math.floor(rnd() * maxLength);
      let sym = '';
      for (let k = 0; k < length; k++) sym += String.fromCharCode(65 + Math.floor(rnd() * 26));
      if (seen.has(sym)) continue;
      seen.add(sym);
      // Prices spread log-uniformly from $2 to $800.
      const midCents = Math.round(100 * Math.exp(Math.log(2) + rnd() * Math.log(400)));
      out.push({
        sym,
        tape,
        name: `${sym} (synthetic)`,
        type: 'CS',
        spreadBps: SPREAD_BPS.madeUp,
        midCents,
        haltedUntil: 0,
      });
      activity.push(1);
    }
    return out;
  }
}

export interface SyntheticFeedOptions {
  market: SyntheticMarket;
  /** Events per second. */
  rate: number;
  onFrame: FrameHandler;
  /** Events per frame at most (Polygon sends a few dozen). */
  frameSize?: number;
  /** How often frames are produced (default 10 ms). */
  tickMs?: number;
}

/**
 * Paces the market at `rate` events/s. After a stall it does not burst to catch up: a market that
 * paused for a second just resumes, as a quiet vendor feed would.
 */
export class SyntheticFeed implements Feed {
  readonly name = 'synthetic';
  readonly #options: SyntheticFeedOptions;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #emitted = 0;

  constructor(options: SyntheticFeedOptions) {
    this.#options = options;
  }

  get state(): FeedState {
    return this.#timer === undefined ? 'idle' : 'connected';
  }

  get detail(): string {
    return this.#timer === undefined
      ? 'synthetic market stopped'
      : `synthetic market, ${this.#options.rate} events/s`;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#startedAt = performance.now();
    this.#emitted = 0;
    this.#timer = setInterval(() => this.#tick(), this.#options.tickMs ?? 10);
  }

  /** The synthetic market sends no statuses. */
  status(): void {}

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #tick(): void {
    const { rate, market, onFrame } = this.#options;
    const frameSize = this.#options.frameSize ?? 50;
    const elapsed = performance.now() - this.#startedAt;
    let due = Math.floor((rate * elapsed) / 1000) - this.#emitted;
    const burst = Math.max(frameSize, Math.ceil(rate / 10));
    if (due > burst) {
      // Behind by more than 100 ms: forget the backlog instead of flooding.
      this.#emitted += due - burst;
      due = burst;
    }
    const now = Date.now();
    while (due > 0) {
      const count = Math.min(due, frameSize);
      onFrame(market.frame(count, now));
      this.#emitted += count;
      due -= count;
      if (this.#timer === undefined) return;
    }
  }
}
