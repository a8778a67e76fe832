/**
 * Polygon's v2 stocks snapshots, in Polygon's shapes, from the hub's own last values and bars:
 *
 *   GET /v2/snapshot/locale/us/markets/stocks/tickers/{ticker}      one ticker
 *   GET /v2/snapshot/locale/us/markets/stocks/tickers?tickers=A,B   a watchlist (no list: every ticker)
 *   GET /v2/snapshot/locale/us/markets/stocks/{gainers|losers}      the day's top 20 movers
 *
 * Each ticker carries `day`, `min`, `prevDay`, `lastTrade`, `lastQuote`, `todaysChange`,
 * `todaysChangePerc` and `updated` (nanoseconds, as Polygon's), all as of the ticker's cut: now for
 * a real-time product, now − delay for a delayed one (today.ts, rest-access.ts). The answer's
 * additive `mode` is the ticker's (or `mixed` when a list holds both); each ticker of a list also
 * carries its own `mode`.
 *
 * A ticker whose product the user may not see is refused: 403 for one ticker; in a list it is left
 * out and named in the additive `refused` field (403 when every ticker is refused). Every ticker
 * answered is one metered query on its product.
 *
 * Movers are ranked over every ticker the hub holds a day for, in the user's mode per product, from
 * tickers that traded at least 10 000 shares that day (Polygon's rule); the ranking is computed at
 * most once a second per combination of modes and shared by every user of that combination, so a
 * delayed user shares it only with delayed users and it is never newer than their cut.
 */
import { Hono } from 'hono';
import {
  type DaySummary,
  type Quote,
  readBarStates,
  readBarSymbols,
  readLastValues,
  type StoredBar,
  type SymbolBarState,
  type Trade,
} from '../ingest/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { isSymbol } from './channels.js';
import { assertSymbol } from './rest.js';
import {
  type Access,
  delayedFields,
  isAccess,
  nanos,
  RestAccess,
  type RestAccessDeps,
} from './rest-access.js';
import { authenticateRest } from './rest-auth.js';
import { dayAsOf } from './today.js';

const BASE = '/v2/snapshot/locale/us/markets/stocks';
/** The most tickers one watchlist request may name. */
export const MAX_WATCHLIST = 1_000;
const MOVERS = 20;
const MOVER_MIN_VOLUME = 10_000;
const MOVERS_TTL_MS = 1_000;

/** What the hub holds of one ticker. */
interface Held {
  sym: string;
  product: number;
  quote: Quote | null;
  trade: Trade | null;
  state: SymbolBarState | null;
}

export type Snapshot = Record<string, unknown> & { ticker: string; todaysChangePerc: number };

interface Movers {
  at: number;
  gainers: Array<{ snapshot: Snapshot; access: Access }>;
  losers: Array<{ snapshot: Snapshot; access: Access }>;
}

export function snapshotRoutes(deps: RestAccessDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const access = new RestAccess(deps);
  const movers = new Map<string, Movers>();

  async function held(syms: readonly string[]): Promise<Held[]> {
    if (syms.length === 0) return [];
    const [quotes, trades, states] = await Promise.all([
      readLastValues(deps.bus, 'Q', syms) as Promise<Array<Quote | null>>,
      readLastValues(deps.bus, 'T', syms) as Promise<Array<Trade | null>>,
      readBarStates(deps.bus, syms),
    ]);
    return syms.map((sym, k) => {
      const quote = quotes[k] ?? null;
      const trade = trades[k] ?? null;
      const state = states[k] ?? null;
      const tape = quote?.z ?? trade?.z ?? state?.tape;
      const product = tape === undefined ? -1 : (deps.products.byTape[tape] ?? -1);
      return { sym, product, quote, trade, state };
    });
  }

  async function snapshot(ticker: Held, granted: Access): Promise<Snapshot> {
    const lastTrade = access.lastValue('T', ticker.sym, ticker.trade, granted);
    const lastQuote = access.lastValue('Q', ticker.sym, ticker.quote, granted);
    const { day, min, prevDay } = await dayAsOf(
      deps.bus,
      ticker.sym,
      ticker.state,
      granted.cut,
      granted.mode === 'realtime',
    );
    return polygonSnapshot(ticker.sym, { day, min, prevDay, lastTrade, lastQuote }, granted);
  }

  app.get(`${BASE}/tickers/:sym`, async (c) => {
    const now = deps.now();
    const caller = authenticateRest(c, deps, now);
    const sym = c.req.param('sym');
    assertSymbol(sym);
    const [ticker] = await held([sym]);
    if (ticker === undefined || ticker.product < 0) {
      throw new DomainError('not_found', 'unknown_symbol', `There is no snapshot for ${sym}.`);
    }
    const granted = await access.require(caller.principal, ticker.product, now);
    access.assertMetering();
    const body = await snapshot(ticker, granted);
    access.meter(c, caller.principal, granted, sym, 'snapshot');
    return c.json({
      status: 'OK',
      request_id: c.get('requestId'),
      mode: granted.mode,
      ...delayedFields(granted),
      ticker: body,
    });
  });

  app.get(`${BASE}/tickers`, async (c) => {
    const now = deps.now();
    const caller = authenticateRest(c, deps, now);
    const syms = watchlist(c.req.queries('tickers')) ?? (await readBarSymbols(deps.bus));
    const tickers = (await held(syms)).filter((ticker) => ticker.product >= 0);
    const decided = await access.decide(caller.principal, new Set(tickers.map((t) => t.product)), now);
    const answered: Array<{ ticker: Held; access: Access }> = [];
    const refused: Array<Record<string, unknown>> = [];
    for (const ticker of tickers) {
      const decision = decided.get(ticker.product);
      if (decision === undefined) continue;
      if (isAccess(decision)) answered.push({ ticker, access: decision });
      else refused.push({ ticker: ticker.sym, product: decision.terms.id, reasons: decision.reasons });
    }
    if (answered.length === 0 && refused.length > 0) {
      const first = [...decided.values()].find((decision) => !isAccess(decision));
      if (first !== undefined && !isAccess(first)) throw access.refusal(first);
    }
    access.assertMetering();
    const snapshots = await Promise.all(answered.map(({ ticker, access: a }) => snapshot(ticker, a)));
    for (const { ticker, access: a } of answered)
      access.meter(c, caller.principal, a, ticker.sym, 'snapshot');
    return c.json({
      status: 'OK',
      request_id: c.get('requestId'),
      count: snapshots.length,
      mode: listMode(answered.map(({ access: a }) => a)),
      ...(refused.length > 0 ? { refused } : {}),
      tickers: snapshots,
    });
  });

  app.get(`${BASE}/:direction{gainers|losers}`, async (c) => {
    const now = deps.now();
    const caller = authenticateRest(c, deps, now);
    const direction = c.req.param('direction') as 'gainers' | 'losers';
    const decided = await access.decide(
      caller.principal,
      deps.products.list.map((_, k) => k),
      now,
    );
    const granted = [...decided.values()].filter(isAccess);
    if (granted.length === 0) {
      const first = [...decided.values()][0];
      if (first !== undefined && !isAccess(first)) throw access.refusal(first);
    }
    access.assertMetering();
    const key = [...decided.values()].map((d) => (isAccess(d) ? d.mode : 'refused')).join(',');
    let ranked = movers.get(key);
    if (ranked === undefined || now - ranked.at >= MOVERS_TTL_MS || ranked.at > now) {
      ranked = await rank(granted, now);
      movers.set(key, ranked);
    }
    const top = ranked[direction];
    for (const { snapshot: s, access: a } of top) {
      // The ranking may be shared: meter the caller's own access to each ticker's product.
      const mine = decided.get(a.product);
      if (mine !== undefined && isAccess(mine)) access.meter(c, caller.principal, mine, s.ticker, 'snapshot');
    }
    return c.json({
      status: 'OK',
      request_id: c.get('requestId'),
      mode: listMode(top.map(({ access: a }) => a)),
      tickers: top.map(({ snapshot: s }) => s),
    });
  });

  async function rank(granted: readonly Access[], now: number): Promise<Movers> {
    const byProduct = new Map(granted.map((a) => [a.product, a]));
    const tickers = (await held(await readBarSymbols(deps.bus))).filter((t) => byProduct.has(t.product));
    const snapshots = await Promise.all(
      tickers.map(async (ticker) => {
        const a = byProduct.get(ticker.product) as Access;
        return { snapshot: await snapshot(ticker, a), access: a };
      }),
    );
    const movable = snapshots.filter(({ snapshot: s }) => {
      const day = s.day as { v: number };
      const prev = s.prevDay as { c: number } | undefined;
      return day.v >= MOVER_MIN_VOLUME && prev !== undefined && prev.c > 0;
    });
    const byChange = movable.sort((a, b) => b.snapshot.todaysChangePerc - a.snapshot.todaysChangePerc);
    return {
      at: now,
      gainers: byChange.filter(({ snapshot: s }) => s.todaysChangePerc > 0).slice(0, MOVERS),
      losers: byChange
        .filter(({ snapshot: s }) => s.todaysChangePerc < 0)
        .reverse()
        .slice(0, MOVERS),
    };
  }

  return app;
}

/** The tickers of `?tickers=A,B,C`, checked; undefined when the parameter is absent or empty. */
/**
 * The tickers asked for: `tickers=A,B` as Polygon documents it, or `tickers=A&tickers=B` as the
 * SDK's `getStocksSnapshotTickers([...])` sends an array; both may mix.
 */
function watchlist(params: string[] | undefined): string[] | undefined {
  const param = (params ?? []).join(',');
  if (param.trim() === '') return undefined;
  const syms = [
    ...new Set(
      param
        .split(',')
        .map((sym) => sym.trim())
        .filter((sym) => sym !== ''),
    ),
  ];
  if (syms.length > MAX_WATCHLIST) {
    throw new DomainError(
      'invalid',
      'too_many_tickers',
      `A snapshot request may name at most ${MAX_WATCHLIST} tickers; this one names ${syms.length}.`,
    );
  }
  const bad = syms.find((sym) => !isSymbol(sym));
  if (bad !== undefined) assertSymbol(bad);
  return syms;
}

function listMode(accesses: readonly Access[]): string {
  const modes = new Set(accesses.map((a) => a.mode));
  if (modes.size === 1) return [...modes][0] as string;
  return modes.size === 0 ? 'realtime' : 'mixed';
}

interface SnapshotParts {
  day: DaySummary | undefined;
  min: StoredBar | undefined;
  prevDay: DaySummary | undefined;
  lastTrade: Trade | undefined;
  lastQuote: Quote | undefined;
}

const ohlc = (d: DaySummary | undefined) =>
  d === undefined
    ? { o: 0, h: 0, l: 0, c: 0, v: 0, vw: 0 }
    : { o: d.o, h: d.h, l: d.l, c: d.c, v: d.v, vw: d.vw };

const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;

/** One ticker in Polygon's snapshot shape. */
export function polygonSnapshot(sym: string, parts: SnapshotParts, granted: Access): Snapshot {
  const { day, min, prevDay, lastTrade, lastQuote } = parts;
  const price = lastTrade?.p ?? day?.c;
  const change = price !== undefined && prevDay !== undefined && prevDay.c > 0 ? price - prevDay.c : 0;
  const snapshot: Snapshot = {
    ticker: sym,
    todaysChange: round(change, 4),
    todaysChangePerc: prevDay !== undefined && prevDay.c > 0 ? round((change / prevDay.c) * 100, 4) : 0,
    updated: nanos(Math.max(lastTrade?.t ?? 0, lastQuote?.t ?? 0, min === undefined ? 0 : min.t + 60_000)),
    day: ohlc(day),
    min:
      min === undefined
        ? { av: 0, t: 0, n: 0, o: 0, h: 0, l: 0, c: 0, v: 0, vw: 0 }
        : { av: min.av, t: min.t, n: min.n, o: min.o, h: min.h, l: min.l, c: min.c, v: min.v, vw: min.vw },
    prevDay: ohlc(prevDay),
    mode: granted.mode,
  };
  if (lastTrade !== undefined) {
    snapshot.lastTrade = {
      ...(lastTrade.c === undefined ? {} : { c: lastTrade.c }),
      i: lastTrade.i,
      p: lastTrade.p,
      s: lastTrade.s,
      t: nanos(lastTrade.t),
      x: lastTrade.x,
    };
  }
  if (lastQuote !== undefined) {
    snapshot.lastQuote = {
      P: lastQuote.ap,
      S: lastQuote.as,
      p: lastQuote.bp,
      s: lastQuote.bs,
      t: nanos(lastQuote.t),
    };
  }
  return snapshot;
}
