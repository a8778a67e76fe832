/**
 * The US equities trading day of an instant: the calendar day in New York (America/New_York),
 * as Polygon dates its daily bars and `from`/`to` ranges. Bars, `op`, `av` and a snapshot's `day`
 * all restart at New York midnight, not UTC midnight, so a post-market trade at 20:30 EST
 * (01:30 UTC) still belongs to the day it was traded on.
 */

export interface TradingDay {
  /** `YYYY-MM-DD` in New York. */
  readonly date: string;
  /** New York midnight starting the day, epoch ms. */
  readonly start: number;
  /** New York midnight ending it (23, 24 or 25 hours later), epoch ms. */
  readonly end: number;
}

const NEW_YORK = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/New_York',
  hourCycle: 'h23',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** New York's wall clock at `t`, read as if it were UTC: minus `t`, the zone's offset. */
function wallClock(t: number): { y: number; m: number; d: number; asUtc: number } {
  const parts: Record<string, number> = {};
  for (const part of NEW_YORK.formatToParts(t))
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  const { year: y = 0, month: m = 1, day: d = 1, hour = 0, minute = 0, second = 0 } = parts;
  return { y, m, d, asUtc: Date.UTC(y, m - 1, d, hour, minute, second) + (t % 1000) };
}

/** The instant of New York midnight on calendar day y-m-d. */
function midnight(y: number, m: number, d: number): number {
  const guess = Date.UTC(y, m - 1, d);
  // Clocks change at 02:00 local, so the offset at 05:00 UTC (00:00 or 01:00 local) is midnight's.
  const probe = guess + 5 * 3_600_000;
  return guess - (wallClock(probe).asUtc - probe);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** The last day computed: nearly every call (a REST answer's cut, a bar) falls in it. */
let lastDay: TradingDay | undefined;

/** The trading day holding `t`. */
export function tradingDayOf(t: number): TradingDay {
  const last = lastDay;
  if (last !== undefined && t >= last.start && t < last.end) return last;
  const day = computeDay(t);
  lastDay = day;
  return day;
}

function computeDay(t: number): TradingDay {
  const { y, m, d } = wallClock(t);
  const start = midnight(y, m, d);
  const next = new Date(Date.UTC(y, m - 1, d + 1));
  const end = midnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate());
  return { date: `${pad(y, 4)}-${pad(m)}-${pad(d)}`, start, end };
}

/** The trading day named `YYYY-MM-DD`, or undefined when it is not a real date. */
export function tradingDayNamed(date: string): TradingDay | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (match === null) return undefined;
  const [y, m, d] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const probe = new Date(Date.UTC(y, m - 1, d));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== m - 1 || probe.getUTCDate() !== d)
    return undefined;
  return tradingDayOf(midnight(y, m, d) + 12 * 3_600_000);
}

/** Remembers the last day asked for, so the per-trade question is two comparisons. */
export class TradingDays {
  #day: TradingDay | undefined;

  of(t: number): TradingDay {
    const day = this.#day;
    if (day !== undefined && t >= day.start && t < day.end) return day;
    const fresh = tradingDayOf(t);
    this.#day = fresh;
    return fresh;
  }
}
