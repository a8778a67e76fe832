/**
 * `GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}` for a range reaching
 * today (New York's day), in Polygon's shape, from the bars the hub builds itself (ingest/bars.ts):
 *
 * - `second`: the second bars of the last hour (older ones are not kept); `minute`: today's
 *   minute bars; `hour`: today's minute bars combined; `day`: today's day bar. A multiplier
 *   combines that many windows, aligned to the epoch (an `hour` of a `day`, New York midnight).
 * - Only windows closed by the answer's cut (rest-access.ts) are in it: now for a real-time user,
 *   now − delay for a delayed one. A combined bar holds the closed windows it covers so far, and a
 *   delayed day bar is the day as of the cut.
 * - The days before today of a range that starts earlier are the vendor's, fetched through the
 *   pass-through (passthrough.ts) and put before today's; with no vendor key they are left out
 *   and the answer says so (`history: "unavailable"`, additive).
 * - `week` and longer bars reaching today are refused (400): each would mix the vendor's days with
 *   the hub's today; ask for `day` bars and combine them.
 *
 * `sort` (`asc`, `desc`) and `limit` (default 5 000, at most 50 000) apply as on Polygon;
 * `adjusted` changes nothing today (splits apply from the next day). An answer with today's bars
 * is one metered query on the ticker's product, in its mode; a refused product answers 403.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { readBarStates, type StoredBar, tradingDayNamed, tradingDayOf } from '../ingest/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { errorBody } from '../platform/http/errors.js';
import type { Passthrough } from './passthrough.js';
import { assertSymbol } from './rest.js';
import { type Access, delayedFields, RestAccess, type RestAccessDeps } from './rest-access.js';
import { authenticateRest, type RestCaller } from './rest-auth.js';
import { limitParam, matches, multiplierParam, sortParam, valid } from './rest-params.js';
import { closedBars, combineBars, dayAsOf, WIDTH_MS } from './today.js';
import { VendorFailure } from './vendor-rest.js';

export interface AggsDeps extends RestAccessDeps {
  passthrough: Passthrough;
}

const SPAN_MS = { second: 1_000, minute: 60_000, hour: 3_600_000 } as const;
const REFUSED_SPANS = new Set(['week', 'month', 'quarter', 'year']);
const DEFAULT_LIMIT = 5_000;
const MAX_LIMIT = 50_000;
const DAY_MS = 86_400_000;

interface Range {
  sym: string;
  multiplier: number;
  timespan: 'second' | 'minute' | 'hour' | 'day';
  /** Epoch ms, inclusive. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  fromParam: string;
}

export function aggsRoutes(deps: AggsDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const access = new RestAccess(deps);

  app.get('/v2/aggs/ticker/:sym/range/:multiplier/:timespan/:from/:to', async (c) => {
    const now = deps.now();
    const caller = authenticateRest(c, deps, now);
    const range = parseRange(c);
    const limit = parseLimit(c.req.query('limit'));
    const sort = valid(sortParam, c.req.query('sort') ?? 'asc', 'invalid_sort', 'sort must be asc or desc.');
    const products = await access.productsOf([range.sym]);
    const [state] = await readBarStates(deps.bus, [range.sym]);
    const tape = state?.tape;
    const product =
      (products[0] ?? -1) >= 0
        ? (products[0] as number)
        : tape === undefined
          ? -1
          : (deps.products.byTape[tape] ?? -1);
    if (product < 0) {
      throw new DomainError('not_found', 'unknown_symbol', `There are no bars for ${range.sym}.`);
    }
    const granted = await access.require(caller.principal, product, now);
    access.assertMetering();
    const today = tradingDayOf(now);
    let history: unknown[] = [];
    let historyUnavailable = false;
    if (range.from < today.start) {
      if (deps.passthrough.vendor.configured) {
        try {
          history = await pastBars(c, deps.passthrough, caller, range, today.start);
        } catch (error) {
          if (error instanceof VendorFailure)
            return c.json(errorBody(error, c.get('requestId')), error.status);
          throw error;
        }
      } else {
        historyUnavailable = true;
      }
    }
    const own = await todaysBars(deps, range, granted, state ?? null, today.start);
    // A query is counted only when today's data is in the answer: no bar shown, nothing displayed.
    if (own.length > 0) access.meter(c, caller.principal, granted, range.sym, 'aggs');
    let results = [...history, ...own.map(polygonBar)];
    if (sort === 'desc') results = results.reverse();
    results = results.slice(0, limit);
    return c.json({
      ticker: range.sym,
      queryCount: results.length,
      resultsCount: results.length,
      adjusted: c.req.query('adjusted') !== 'false',
      results,
      status: 'OK',
      request_id: c.get('requestId'),
      count: results.length,
      mode: granted.mode,
      ...delayedFields(granted),
      ...(historyUnavailable
        ? {
            history: 'unavailable',
            historyMessage:
              'Days before today come from the market-data vendor, and this hub has no vendor key (POLYGON_API_KEY is not set).',
          }
        : {}),
    });
  });

  return app;
}

/** Today's part of the range: the windows closed by the cut, combined as asked. */
async function todaysBars(
  deps: AggsDeps,
  range: Range,
  granted: Access,
  state: Parameters<typeof dayAsOf>[2],
  todayStart: number,
): Promise<StoredBar[]> {
  const from = Math.max(range.from, todayStart);
  if (range.to <= from) return [];
  if (range.timespan === 'day') {
    const { day } = await dayAsOf(deps.bus, range.sym, state, granted.cut, granted.mode === 'realtime');
    if (day === undefined || todayStart >= range.to) return [];
    return [
      {
        t: todayStart,
        o: day.o,
        h: day.h,
        l: day.l,
        c: day.c,
        v: day.v,
        vw: day.vw,
        n: day.n,
        av: day.v,
        op: day.o,
        a: day.vw,
        dh: day.h,
        dl: day.l,
      },
    ];
  }
  const span = range.timespan === 'second' ? 'A' : 'AM';
  const bars = await closedBars(deps.bus, span, range.sym, from, range.to, granted.cut);
  const bucket = SPAN_MS[range.timespan] * range.multiplier;
  return bucket === WIDTH_MS[span] ? bars : combineBars(bars, bucket);
}

/** The vendor's bars for the days of the range before today. */
function pastBars(
  c: Context<AppEnv>,
  passthrough: Passthrough,
  caller: RestCaller,
  range: Range,
  todayStart: number,
): Promise<unknown[]> {
  const yesterday = tradingDayOf(todayStart - 1).date;
  return passthrough.history(c, caller, {
    sym: range.sym,
    multiplier: String(range.multiplier),
    timespan: range.timespan,
    from: range.fromParam,
    to: yesterday,
  });
}

function polygonBar(bar: StoredBar): Record<string, number> {
  return { v: bar.v, vw: bar.vw, o: bar.o, c: bar.c, h: bar.h, l: bar.l, t: bar.t, n: bar.n };
}

function parseRange(c: Context<AppEnv>): Range {
  const { sym, multiplier, timespan, from, to } = c.req.param() as Record<string, string>;
  assertSymbol(sym as string);
  if (REFUSED_SPANS.has(timespan as string)) {
    throw new DomainError(
      'invalid',
      'invalid_range',
      `${timespan} bars of a range reaching today are not served (they would mix the vendor's days with today's); ask for day bars.`,
    );
  }
  if (!matches(multiplierParam, multiplier) || !(timespan === 'day' || (timespan as string) in SPAN_MS)) {
    throw new DomainError(
      'invalid',
      'invalid_range',
      'The multiplier must be a whole number from 1 and the timespan one of second, minute, hour, day.',
    );
  }
  const start = bound(from as string, 'start');
  const end = bound(to as string, 'end');
  if (start === undefined || end === undefined) {
    throw new DomainError(
      'invalid',
      'invalid_range',
      'from and to must be dates (YYYY-MM-DD) or epoch millisecond timestamps.',
    );
  }
  if (end - start > 400 * DAY_MS) {
    throw new DomainError('invalid', 'invalid_range', 'A range may span at most 400 days.');
  }
  return {
    sym: sym as string,
    multiplier: Number(multiplier),
    timespan: timespan as Range['timespan'],
    from: start,
    to: end,
    fromParam: from as string,
  };
}

/** A range bound in epoch ms: a date's first instant (`start`) or the end of its day (`end`, exclusive). */
function bound(value: string, side: 'start' | 'end'): number | undefined {
  if (/^\d{1,15}$/.test(value)) return side === 'start' ? Number(value) : Number(value) + 1;
  const day = tradingDayNamed(value);
  if (day === undefined) return undefined;
  return side === 'start' ? day.start : day.end;
}

export const aggsLimit = limitParam(MAX_LIMIT);

function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  return valid(aggsLimit, raw, 'invalid_limit', `limit must be a whole number from 1 to ${MAX_LIMIT}.`);
}
