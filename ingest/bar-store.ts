/**
 * Today's bars where every edge can read them: the bus key/values, written by the ingest leader
 * at a bounded rate (every `intervalMs`, only what changed), like the last-value cache.
 *
 * Layout (each key one hash, so on Redis Cluster a key's fields live on one node):
 * - `bars:AM:{sym}`: minute bars, field = minute of the UTC day (`⌊s / 60 000⌋ mod 1440`), value
 *   the StoredBar JSON; a field is overwritten a day later, so a symbol holds at most 1 440.
 * - `bars:A:{sym}`: second bars, field = `⌊s / 1 000⌋ mod SECOND_SLOTS` — a ring of the last
 *   hour; older seconds are overwritten.
 * - `bars:state`: field = symbol, value = its SymbolBarState (the day so far, the previous day,
 *   the last closed minute and the open minute): a snapshot's `day`, `prevDay` and `min`, and what a
 *   new leader continues from.
 * - `bars:symbols`: field `all` = the JSON list of every symbol with a state (gainers/losers).
 *
 * Readers check each bar's own start time, so an overwritten or stale slot is never mistaken for
 * the window asked for.
 */
import type { Bus, KeyValues } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';
import type { BarBuilder, StoredBar, SymbolBarState, SymbolBars } from './bars.js';

/** Second bars kept per symbol: one hour. */
export const SECOND_SLOTS = 3_600;
const MINUTE_SLOTS = 1_440;

export type BarSpan = 'A' | 'AM';

const WIDTH: Record<BarSpan, number> = { A: 1_000, AM: 60_000 };
const SLOTS: Record<BarSpan, number> = { A: SECOND_SLOTS, AM: MINUTE_SLOTS };

const barsKey = (span: BarSpan, sym: string) => `bars:${span}:${sym}`;
const slotOf = (span: BarSpan, s: number) => String(Math.floor(s / WIDTH[span]) % SLOTS[span]);
const STATE_KEY = 'bars:state';
const SYMBOLS_KEY = 'bars:symbols';

export interface BarStoreOptions {
  kv: KeyValues;
  builder: BarBuilder;
  logger: Logger;
  /** Asked before every write: a process without the lease writes nothing. */
  mayPublish?: () => boolean;
  /** How often closed bars and changed states are written (default 1 000 ms). */
  intervalMs?: number;
}

export class BarStore {
  readonly #options: BarStoreOptions;
  readonly #mayPublish: () => boolean;
  #pending = new Map<string, Map<string, string>>();
  readonly #known = new Set<string>();
  #listed = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #failing = false;

  constructor(options: BarStoreOptions) {
    this.#options = options;
    this.#mayPublish = options.mayPublish ?? (() => true);
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      if (this.#writing === undefined) void this.flush();
    }, this.#options.intervalMs ?? 1_000);
  }

  /** Remembers a closed bar until the next write. */
  bar(span: BarSpan, sym: string, stored: StoredBar): void {
    const key = barsKey(span, sym);
    let fields = this.#pending.get(key);
    if (fields === undefined) {
      fields = new Map();
      this.#pending.set(key, fields);
    }
    fields.set(slotOf(span, stored.t), JSON.stringify(stored));
  }

  /**
   * Reads what the previous leader stored and hands it to the builder, before the feed starts.
   * Resolves false when the store could not be read (the day then starts afresh).
   */
  async load(now: number): Promise<boolean> {
    const { kv, builder, logger } = this.#options;
    try {
      const syms = await readBarSymbols({ kv });
      const states = await readBarStates({ kv }, syms);
      for (const state of states) if (state !== null) builder.restore(state, now);
      for (const sym of syms) this.#known.add(sym);
      this.#listed = this.#known.size;
      return true;
    } catch (error) {
      logger.warn({ err: error }, 'bar store unreadable: today’s bars start afresh');
      return false;
    }
  }

  flush(): Promise<void> {
    const previous = this.#writing;
    const current = (async () => {
      await previous;
      await this.#write();
    })();
    this.#writing = current;
    void current.then(() => {
      if (this.#writing === current) this.#writing = undefined;
    });
    return current;
  }

  /** Forgets unwritten bars (the lease is gone). */
  discard(): void {
    this.#pending = new Map();
    for (const bars of this.#options.builder.symbols) bars.changed = false;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Never rejects: a failed write is logged once per outage; the states are written again next time. */
  async #write(): Promise<void> {
    const { kv, builder, logger } = this.#options;
    const pending = this.#pending;
    this.#pending = new Map();
    const states = new Map<string, string>();
    const changed: SymbolBars[] = [];
    for (const bars of builder.symbols) {
      if (!bars.changed) continue;
      bars.changed = false;
      changed.push(bars);
      states.set(bars.sym, JSON.stringify(builder.state(bars)));
      this.#known.add(bars.sym);
    }
    if (!this.#mayPublish() || (pending.size === 0 && states.size === 0)) return;
    try {
      const writes: Array<Promise<void>> = [];
      for (const [key, fields] of pending) writes.push(kv.setFields(key, fields));
      if (states.size > 0) writes.push(kv.setFields(STATE_KEY, states));
      if (this.#known.size !== this.#listed) {
        const listed = this.#known.size;
        writes.push(
          kv.setFields(SYMBOLS_KEY, new Map([['all', JSON.stringify([...this.#known])]])).then(() => {
            this.#listed = listed;
          }),
        );
      }
      await Promise.all(writes);
      if (this.#failing) logger.info('bar store writes recovered');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing)
        logger.warn({ err: error }, 'bar store write failed; states are rewritten next time');
      this.#failing = true;
      // The states are the day's running totals: written again at the next change. Bars closed in
      // the outage are lost from the store (not from the socket, which got them live).
      for (const bars of changed) bars.changed = true;
    }
  }
}

/** Every symbol the store holds a state for. */
export async function readBarSymbols(bus: Pick<Bus, 'kv'>): Promise<string[]> {
  const raw = await bus.kv.getField(SYMBOLS_KEY, 'all');
  if (raw === null) return [];
  const list = JSON.parse(raw.toString('utf8')) as unknown;
  return Array.isArray(list) ? list.filter((sym): sym is string => typeof sym === 'string') : [];
}

/** The stored states of these symbols, in order (null where none). */
export async function readBarStates(
  bus: Pick<Bus, 'kv'>,
  syms: readonly string[],
): Promise<Array<SymbolBarState | null>> {
  if (syms.length === 0) return [];
  const raws = await bus.kv.getFields(STATE_KEY, syms);
  return raws.map((raw) => (raw === null ? null : (JSON.parse(raw.toString('utf8')) as SymbolBarState)));
}

/** The most windows one read asks for. */
export const MAX_BARS_PER_READ: Record<BarSpan, number> = { A: SECOND_SLOTS, AM: MINUTE_SLOTS };

/**
 * The stored bars of `sym` starting in `[from, to)`, oldest first. At most MAX_BARS_PER_READ
 * windows are asked for, the latest ones of the range; second bars older than an hour are gone.
 */
export async function readBars(
  bus: Pick<Bus, 'kv'>,
  span: BarSpan,
  sym: string,
  from: number,
  to: number,
): Promise<StoredBar[]> {
  const width = WIDTH[span];
  const last = Math.ceil(to / width) * width - width;
  let first = Math.ceil(from / width) * width;
  first = Math.max(first, last - (MAX_BARS_PER_READ[span] - 1) * width);
  if (last < first) return [];
  const starts: number[] = [];
  for (let s = first; s <= last; s += width) starts.push(s);
  const raws = await bus.kv.getFields(
    barsKey(span, sym),
    starts.map((s) => slotOf(span, s)),
  );
  const bars: StoredBar[] = [];
  raws.forEach((raw, k) => {
    if (raw === null) return;
    const bar = JSON.parse(raw.toString('utf8')) as StoredBar;
    if (bar.t === starts[k]) bars.push(bar);
  });
  return bars;
}
