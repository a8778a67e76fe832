/**
 * The market's calendar day: US equities trade on New York time, so "today" for history and
 * bars is the date in America/New_York (Polygon's aggregate dates are that day too), whatever
 * the hub's own time zone. Always from an injected clock, never from the wall clock here.
 */

const NEW_YORK = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'America/New_York',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

/** The New York date of an instant (epoch ms), as `YYYY-MM-DD`. */
export function marketDay(at: number): string {
  return NEW_YORK.format(at);
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MILLIS = /^\d{1,15}$/;

/**
 * The market day a Polygon range bound names: a `YYYY-MM-DD` date (checked to exist) or an epoch
 * millisecond timestamp, which Polygon also takes. Undefined when it is neither.
 */
export function boundDay(bound: string): string | undefined {
  const date = DATE.exec(bound);
  if (date) {
    const [, y, m, d] = date as unknown as [string, string, string, string];
    const parsed = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
    return parsed.getUTCFullYear() === Number(y) &&
      parsed.getUTCMonth() === Number(m) - 1 &&
      parsed.getUTCDate() === Number(d)
      ? bound
      : undefined;
  }
  return MILLIS.test(bound) ? marketDay(Number(bound)) : undefined;
}

/**
 * Whether a range ending at `to` lies wholly before today's market day at `now`: those bars are
 * history, final, and come from the vendor; a range reaching today is the hub's own bars.
 * Undefined when `to` is not a date or timestamp.
 */
export function endsBeforeToday(to: string, now: number): boolean | undefined {
  const day = boundDay(to);
  return day === undefined ? undefined : day < marketDay(now);
}
