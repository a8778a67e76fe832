/**
 * A report month: a UTC calendar month written `YYYY-MM`, with its bounds as instants and as
 * ledger days, so SQL over `usage_daily.day` and over epoch-ms history use the same edges.
 */
export interface UsageMonth {
  /** `YYYY-MM`. */
  month: string;
  /** First instant, epoch ms, inclusive. */
  start: number;
  /** First instant of the next month, epoch ms, exclusive. */
  end: number;
  /** `YYYY-MM-01`. */
  firstDay: string;
  /** The next month's `YYYY-MM-01`, exclusive. */
  nextFirstDay: string;
}

export const MONTH_PATTERN = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Parses `YYYY-MM`; undefined for anything else (`2026-3`, `2026-13`, `2026-03-01`). */
export function parseUsageMonth(text: string): UsageMonth | undefined {
  const match = MONTH_PATTERN.exec(text);
  if (!match) return undefined;
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  const start = Date.UTC(year, index, 1);
  const end = Date.UTC(year, index + 1, 1);
  return { month: text, start, end, firstDay: utcDay(start), nextFirstDay: utcDay(end) };
}

/** The UTC day of an instant, `YYYY-MM-DD`. */
export function utcDay(at: number): string {
  return new Date(at).toISOString().slice(0, 10);
}
