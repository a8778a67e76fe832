/**
 * Today's bars and day summaries as of a cut-off instant, read from the bars ingest stores
 * (ingest/bar-store.ts), for snapshots and `/v2/aggs` of today.
 *
 * The cut is `now` for a real-time answer and `now − delay` for a delayed one (rest-access.ts). A
 * window is in an answer only once it has closed by the cut (`t + width ≤ cut`), so a delayed user
 * never sees a bar before its end is a delay old; the day as of a cut is read from the last minute
 * bar closed by then, which carries the day's open, high, low, volume and VWAP as of its end.
 * A real-time day is the symbol's running state (written by ingest every second).
 */
import {
  type BarSpan,
  type DaySummary,
  daySummary,
  readBars,
  type StoredBar,
  type SymbolBarState,
  tradingDayOf,
} from '../ingest/index.js';
import type { Bus } from '../platform/bus/index.js';

export const WIDTH_MS: Record<BarSpan, number> = { A: 1_000, AM: 60_000 };

/** How far back the last closed minute is looked for first (one read of ≤ 60 fields). */
const RECENT_MS = 3_600_000;

/** What a snapshot shows of a symbol's day as of the cut. */
export interface DayAsOf {
  day: DaySummary | undefined;
  /** The last minute bar closed by the cut. */
  min: StoredBar | undefined;
  prevDay: DaySummary | undefined;
}

/** The windows of `span` starting in `[from, to)` that have closed by `cut`, oldest first. */
export async function closedBars(
  bus: Pick<Bus, 'kv'>,
  span: BarSpan,
  sym: string,
  from: number,
  to: number,
  cut: number,
): Promise<StoredBar[]> {
  const end = Math.min(to, cut - WIDTH_MS[span] + 1);
  if (end <= from) return [];
  return readBars(bus, span, sym, from, end);
}

/** The day of `state` as of `cut`: the running state for a real-time cut, the last closed minute otherwise. */
export async function dayAsOf(
  bus: Pick<Bus, 'kv'>,
  sym: string,
  state: SymbolBarState | null,
  cut: number,
  realtime: boolean,
): Promise<DayAsOf> {
  const today = tradingDayOf(cut);
  if (realtime) {
    if (state === null) return { day: undefined, min: undefined, prevDay: undefined };
    if (state.date < today.date) return { day: undefined, min: undefined, prevDay: daySummary(state) };
    return { day: daySummary(state), min: state.lastMin ?? undefined, prevDay: state.prev ?? undefined };
  }
  let prevDay: DaySummary | undefined;
  if (state !== null) {
    if (state.date === today.date) prevDay = state.prev ?? undefined;
    // The stored day began after the cut: the day before it (state.prev) is the cut's own day,
    // read from its bars below, and the day before that is no longer kept.
    else if (state.date < today.date) prevDay = daySummary(state);
  }
  const recentFrom = Math.max(today.start, cut - RECENT_MS);
  let bars = await closedBars(bus, 'AM', sym, recentFrom, cut, cut);
  if (bars.length === 0 && recentFrom > today.start) {
    bars = await closedBars(bus, 'AM', sym, today.start, recentFrom, cut);
  }
  const min = bars.at(-1);
  return { day: min === undefined ? undefined : dayOfBar(min, today.date), min, prevDay };
}

/** The day as of a minute bar's end, from the day fields the bar carries. */
export function dayOfBar(bar: StoredBar, date: string): DaySummary {
  return { date, o: bar.op, h: bar.dh, l: bar.dl, c: bar.c, v: bar.av, vw: bar.a, n: 0 };
}

/** Bars of `width`-wide windows combined into `bucket`-wide ones (aligned to the epoch), oldest first. */
export function combineBars(bars: readonly StoredBar[], bucket: number): StoredBar[] {
  const out: StoredBar[] = [];
  let open: StoredBar | undefined;
  let pv = 0;
  for (const bar of bars) {
    const start = Math.floor(bar.t / bucket) * bucket;
    if (open === undefined || open.t !== start) {
      if (open !== undefined) out.push(finish(open, pv));
      open = { ...bar, t: start };
      pv = bar.vw * bar.v;
      continue;
    }
    open.h = Math.max(open.h, bar.h);
    open.l = Math.min(open.l, bar.l);
    open.c = bar.c;
    open.v += bar.v;
    open.n += bar.n;
    pv += bar.vw * bar.v;
    open.av = bar.av;
    open.a = bar.a;
    open.dh = bar.dh;
    open.dl = bar.dl;
  }
  if (open !== undefined) out.push(finish(open, pv));
  return out;
}

function finish(bar: StoredBar, pv: number): StoredBar {
  bar.vw = bar.v > 0 ? Math.round((pv / bar.v) * 10_000) / 10_000 : bar.c;
  return bar;
}
