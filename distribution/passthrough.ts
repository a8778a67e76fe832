/**
 * History and reference routes, passed through to the vendor's REST API in Polygon's own shapes,
 * so `restClient(userToken, hubUrl)` from `@polygon.io/client-js` works against the hub unchanged:
 *
 *   GET /v2/aggs/ticker/{t}/range/{m}/{span}/{from}/{to}   bars of a range ending before today
 *   GET /v2/aggs/ticker/{t}/prev                           the previous trading day's bar
 *   GET /v1/open-close/{t}/{date}                          a past day's open and close
 *   GET /v3/reference/tickers[/{t}]                        reference data
 *   GET /v1/marketstatus/now                               whether the market is open
 *
 * The user authenticates to the hub as on every REST route (rest-auth.ts: token, failed-attempt
 * limit, request rate); the hub then calls the vendor with the broker's key and Launchpad's
 * per-end-user headers (vendor-rest.ts) — the user's token never leaves the hub, and links the
 * vendor returns (`next_url`) are rewritten to point at the hub, so a client that follows them
 * sends its token to the hub and nowhere else.
 *
 * Entitlement: the per-ticker routes need the user to be entitled at least to delayed data of the
 * ticker's product (by the tape its quotes carry); for a ticker the hub has not seen, to every
 * product — when in doubt, the strictest. Reference routes need only a valid token. Nothing here
 * is real-time data (history is wholly before today's market day, New York time), so nothing is
 * metered: no display, no query.
 *
 * Answers are cached per edge (passthrough-cache.ts) for a TTL by route. The vendor still sees
 * every user who uses these routes: a user's first pass-through request of the (UTC) day on an
 * edge is always fetched, never served from the cache, so Launchpad's count of active users is
 * never short because of the cache.
 *
 * Without a vendor key (the synthetic feed) `/v3/reference/tickers` answers from the synthetic
 * market's symbols in Polygon's shape; the other routes answer 503 `vendor_not_configured`.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { REASON_TEXT } from '../entitlements/index.js';
import { type ReferenceTicker, readSyntheticTickers } from '../ingest/index.js';
import type { Bus } from '../platform/bus/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { errorBody } from '../platform/http/errors.js';
import type { Logger } from '../platform/logger.js';
import type { SymbolDirectory } from './directory.js';
import { boundDay, endsBeforeToday, marketDay } from './market-day.js';
import { PassthroughCache } from './passthrough-cache.js';
import type { ProductTable } from './products.js';
import { authenticateRest, type RestAuthDeps, type RestCaller } from './rest-auth.js';
import { dayParam, matches, multiplierParam, symbolParam, TIMESPANS, timespanParam } from './rest-params.js';
import { getTicker, listTickers } from './synthetic-reference.js';
import {
  type VendorAnswer,
  VendorFailure,
  VendorRest,
  type VendorRestOptions,
  vendorMessage,
} from './vendor-rest.js';

export interface PassthroughOptions extends VendorRestOptions {
  /** Answers the edge's cache holds at most (default 2 000). */
  cacheEntries: number;
  /** Bytes the edge's cache holds at most (default 64 MiB). */
  cacheBytes: number;
}

export const DEFAULT_PASSTHROUGH: PassthroughOptions = {
  url: 'https://api.polygon.io',
  apiKey: undefined,
  aliasSecret: undefined,
  timeoutMs: 10_000,
  maxBodyBytes: 32 * 1024 * 1024,
  cacheEntries: 2_000,
  cacheBytes: 64 * 1024 * 1024,
};

export interface PassthroughDeps extends RestAuthDeps {
  bus: Bus;
  products: ProductTable;
  directory: SymbolDirectory;
  options: PassthroughOptions;
  logger: Logger;
  now: () => number;
}

/** How long each route's answers are kept. History is final; market status changes by the minute. */
export const PASSTHROUGH_TTL_MS = {
  aggs: 6 * 3_600_000,
  prev: 10 * 60_000,
  openClose: 6 * 3_600_000,
  tickers: 3_600_000,
  marketStatus: 15_000,
} as const;

type Route = keyof typeof PASSTHROUGH_TTL_MS;

const MAX_QUERY_CHARS = 2_000;

/**
 * Whether `/v2/aggs/ticker/…/range/…/{from}/{to}` is history the vendor answers: its range ends
 * before today's market day (America/New_York) at `now`. The hub's own bars answer the rest.
 */
export function isHistoryRange(to: string, now: number): boolean {
  return endsBeforeToday(to, now) === true;
}

export class Passthrough {
  readonly vendor: VendorRest;
  readonly cache: PassthroughCache;
  readonly #deps: PassthroughDeps;
  /** Users whose pass-through request reached the vendor today (UTC), on this edge. */
  #seen = { day: '', users: new Set<string>() };
  #failing = false;

  constructor(deps: PassthroughDeps) {
    this.#deps = deps;
    this.vendor = new VendorRest(deps.options);
    this.cache = new PassthroughCache({
      maxEntries: deps.options.cacheEntries,
      maxBytes: deps.options.cacheBytes,
    });
  }

  /** The routes, to mount on the hub's app before the hub's own `/v2/aggs` routes (see `isHistoryRange`). */
  routes(): Hono<AppEnv> {
    const app = new Hono<AppEnv>();

    app.get('/v2/aggs/ticker/:sym/range/:multiplier/:timespan/:from/:to', async (c, next) => {
      const { sym, multiplier, timespan, from, to } = c.req.param();
      // Today's bars are the hub's own: let the next route answer, before anything is counted here.
      if (endsBeforeToday(to, this.#deps.now()) === false) return next();
      const caller = this.#authenticate(c);
      if (!matches(multiplierParam, multiplier) || !matches(timespanParam, timespan)) {
        throw new DomainError(
          'invalid',
          'invalid_range',
          `The multiplier must be a whole number from 1 and the timespan one of ${TIMESPANS.join(', ')}.`,
        );
      }
      if (boundDay(from) === undefined || boundDay(to) === undefined) {
        throw new DomainError(
          'invalid',
          'invalid_range',
          'from and to must be dates (YYYY-MM-DD) or epoch millisecond timestamps.',
        );
      }
      await this.#mayReadHistory(caller, sym);
      return this.#answer(c, caller, 'aggs');
    });

    app.get('/v2/aggs/ticker/:sym/prev', async (c) => {
      const caller = this.#authenticate(c);
      await this.#mayReadHistory(caller, c.req.param('sym'));
      return this.#answer(c, caller, 'prev');
    });

    app.get('/v1/open-close/:sym/:date', async (c) => {
      const caller = this.#authenticate(c);
      const date = c.req.param('date');
      if (!matches(dayParam, date) || boundDay(date) === undefined) {
        throw new DomainError('invalid', 'invalid_date', 'The date must be a day, as YYYY-MM-DD.');
      }
      if (date >= marketDay(this.#deps.now())) {
        throw new DomainError(
          'invalid',
          'not_history',
          `${date} is not over yet (New York time); today's bars come from /v2/aggs/ticker/{ticker}/range/….`,
        );
      }
      await this.#mayReadHistory(caller, c.req.param('sym'));
      return this.#answer(c, caller, 'openClose');
    });

    app.get('/v3/reference/tickers', async (c) => {
      const caller = this.#authenticate(c);
      if (!this.vendor.configured) return this.#syntheticTickers(c);
      return this.#answer(c, caller, 'tickers');
    });

    app.get('/v3/reference/tickers/:sym', async (c) => {
      const caller = this.#authenticate(c);
      if (!this.vendor.configured) return this.#syntheticTicker(c, c.req.param('sym'));
      return this.#answer(c, caller, 'tickers');
    });

    app.get('/v1/marketstatus/now', async (c) => {
      const caller = this.#authenticate(c);
      return this.#answer(c, caller, 'marketStatus');
    });

    return app;
  }

  #authenticate(c: Context<AppEnv>): RestCaller {
    return authenticateRest(c, this.#deps, this.#deps.now());
  }

  /** Refuses (403) a user entitled to nothing of the ticker's product, or of some product for an unseen ticker. */
  async #mayReadHistory(caller: RestCaller, sym: string): Promise<void> {
    if (!matches(symbolParam, sym)) {
      throw new DomainError(
        'invalid',
        'invalid_symbol',
        `${JSON.stringify(sym.slice(0, 40))} is not a symbol, such as AAPL or BRK.A.`,
      );
    }
    const { directory, products, view, now } = this.#deps;
    await directory.resolve([sym]);
    const index = directory.get(sym);
    const candidates = index === undefined ? products.list : [products.list[index]!];
    const at = now();
    for (const product of candidates) {
      const decision = view.decide(caller.principal.userId, product.id, at);
      if (decision.mode !== 'refused') continue;
      const words = decision.reasons.map((reason) => REASON_TEXT[reason]).join(' ');
      this.#deps.stats.refuse(decision.reasons[0] ?? 'refused');
      throw new DomainError(
        'forbidden',
        'insufficient_entitlement',
        index === undefined
          ? `${sym} is not a symbol this hub has seen, and its history needs ${product.id} data, which this account may not receive: ${words}`
          : `Not entitled to ${product.id} data: ${words}`,
        { details: { product: product.id, reasons: decision.reasons } },
      );
    }
  }

  /** The vendor's answer for this request: from the cache when fresh and the vendor has seen the user today. */
  async #answer(c: Context<AppEnv>, caller: RestCaller, route: Route): Promise<Response> {
    const url = new URL(c.req.url);
    try {
      const { answer, cache } = await this.#fetch(c, caller, route, url.pathname, url.searchParams);
      return this.#respond(c, answer, url.origin, cache);
    } catch (error) {
      if (!(error instanceof VendorFailure)) throw error;
      return c.json(errorBody(error, c.get('requestId')), error.status);
    }
  }

  /**
   * The `results` of the vendor's bars of `sym` over a range that ends before today (the days
   * before today of a range the hub's own bars finish), through the cache like every pass-through
   * answer; the caller's entitlement is checked by the route. Throws a VendorFailure (502/504) the
   * route answers as it is, or a DomainError.
   */
  async history(
    c: Context<AppEnv>,
    caller: RestCaller,
    range: { sym: string; multiplier: string; timespan: string; from: string; to: string },
  ): Promise<unknown[]> {
    const { sym, multiplier, timespan, from, to } = range;
    const path = `/v2/aggs/ticker/${encodeURIComponent(sym)}/range/${multiplier}/${timespan}/${from}/${to}`;
    const query = new URLSearchParams();
    const adjusted = c.req.query('adjusted');
    if (adjusted !== undefined) query.set('adjusted', adjusted);
    query.set('limit', '50000');
    query.set('sort', 'asc');
    const { answer } = await this.#fetch(c, caller, 'aggs', path, query);
    try {
      const parsed = JSON.parse(answer.body) as { results?: unknown };
      return Array.isArray(parsed.results) ? parsed.results : [];
    } catch {
      throw new VendorFailure(
        502,
        'vendor_error',
        'The market-data vendor answered with a body that is not JSON.',
      );
    }
  }

  /** A 2xx vendor answer for `pathname?search` (apiKey dropped), or a DomainError / VendorFailure. */
  async #fetch(
    c: Context<AppEnv>,
    caller: RestCaller,
    route: Route,
    pathname: string,
    search: URLSearchParams,
  ): Promise<{ answer: VendorAnswer; cache: 'hit' | 'miss' }> {
    if (!this.vendor.configured) {
      throw new DomainError(
        'unavailable',
        'vendor_not_configured',
        'History and market status come from the market-data vendor, and this hub has no vendor key (POLYGON_API_KEY is not set: it runs the synthetic feed).',
      );
    }
    const query = forwardedQuery(search);
    if (query.length > MAX_QUERY_CHARS) {
      throw new DomainError(
        'invalid',
        'query_too_long',
        `The query string exceeds ${MAX_QUERY_CHARS} characters.`,
      );
    }
    const path = query === '' ? pathname : `${pathname}?${query}`;
    const key = cacheKey(pathname, search);
    const now = this.#deps.now();
    const userId = caller.principal.userId;
    const seen = this.#seenToday(now);
    const cached = seen.has(userId) ? this.cache.get(key, now) : undefined;
    if (cached !== undefined) return { answer: cached, cache: 'hit' };
    let answer: VendorAnswer;
    try {
      answer = await this.vendor.get(path, {
        userId,
        address: caller.address,
        userAgent: c.req.header('user-agent'),
      });
    } catch (error) {
      if (error instanceof VendorFailure) this.#failed(route, error.code);
      throw error;
    }
    seen.add(userId);
    if (answer.status >= 200 && answer.status < 300) {
      this.#recovered();
      this.cache.set(key, answer, PASSTHROUGH_TTL_MS[route], this.#deps.now());
      return { answer, cache: 'miss' };
    }
    const said = vendorMessage(answer.body);
    if (answer.status === 404) {
      throw new DomainError('not_found', 'not_found', said ?? 'The market-data vendor has no such data.');
    }
    if (answer.status === 400) {
      throw new DomainError(
        'invalid',
        'vendor_rejected_request',
        `The market-data vendor refused the request: ${said ?? 'bad request'}`,
      );
    }
    this.#failed(route, `vendor_${answer.status}`);
    throw new VendorFailure(
      502,
      'vendor_error',
      `The market-data vendor answered ${answer.status}${said === undefined ? '' : `: ${said}`}`,
      said === undefined
        ? { vendorStatus: answer.status }
        : { vendorStatus: answer.status, vendorMessage: said },
    );
  }

  #respond(c: Context<AppEnv>, answer: VendorAnswer, origin: string, cache: 'hit' | 'miss'): Response {
    return c.body(rewriteLinks(answer.body, origin), answer.status as ContentfulStatusCode, {
      'content-type': 'application/json; charset=utf-8',
      'x-mdhub-cache': cache,
    });
  }

  #seenToday(now: number): Set<string> {
    const day = new Date(now).toISOString().slice(0, 10);
    if (this.#seen.day !== day) this.#seen = { day, users: new Set() };
    return this.#seen.users;
  }

  /** Logged once per outage, not per request. */
  #failed(route: Route, reason: string): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#deps.logger.warn({ route, reason }, 'vendor REST pass-through failing');
  }

  #recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#deps.logger.info('vendor REST pass-through answering again');
  }

  async #tickers(): Promise<ReferenceTicker[]> {
    try {
      return await readSyntheticTickers(this.#deps.bus);
    } catch {
      throw new DomainError(
        'unavailable',
        'bus_unavailable',
        'The ticker list cannot be read right now; retry shortly.',
      );
    }
  }

  /** `/v3/reference/tickers` from the synthetic market (synthetic-reference.ts). */
  async #syntheticTickers(c: Context<AppEnv>): Promise<Response> {
    const url = new URL(c.req.url);
    const { results, next } = listTickers(await this.#tickers(), url.searchParams);
    const body: Record<string, unknown> = {
      results,
      status: 'OK',
      request_id: c.get('requestId'),
      count: results.length,
    };
    if (next !== undefined) body.next_url = `${url.origin}/v3/reference/tickers?${next}`;
    return c.json(body);
  }

  async #syntheticTicker(c: Context<AppEnv>, sym: string): Promise<Response> {
    const results = getTicker(await this.#tickers(), sym);
    return c.json({ request_id: c.get('requestId'), results, status: 'OK' });
  }
}

const isApiKey = (name: string) => name.toLowerCase() === 'apikey';

/** The query as the vendor gets it: the client's own parameters, in their order, without any `apiKey`. */
function forwardedQuery(search: URLSearchParams): string {
  const out = new URLSearchParams();
  for (const [name, value] of search) if (!isApiKey(name)) out.append(name, value);
  return out.toString();
}

/** The cache key: the path and the parameters (without `apiKey`), sorted so their order does not matter. */
function cacheKey(pathname: string, search: URLSearchParams): string {
  const pairs = [...search]
    .filter(([name]) => !isApiKey(name))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${pathname}?${new URLSearchParams(pairs).toString()}`;
}

/**
 * The vendor's `next_url` pointed at the hub (same path and query, any `apiKey` dropped), so a
 * client following it sends its token to the hub, never to the vendor, and never sees the broker's key.
 */
function rewriteLinks(body: string, origin: string): string {
  if (!body.includes('"next_url"')) return body;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return body;
  }
  if (typeof parsed.next_url !== 'string') return body;
  try {
    const link = new URL(parsed.next_url);
    for (const name of [...link.searchParams.keys()]) if (isApiKey(name)) link.searchParams.delete(name);
    parsed.next_url = `${origin}${link.pathname}${link.search}`;
  } catch {
    delete parsed.next_url;
  }
  return JSON.stringify(parsed);
}
