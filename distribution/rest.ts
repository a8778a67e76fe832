/**
 * REST last values: `GET /v1/last/quote/:sym` and `GET /v1/last/trade/:sym` (the hub's own shapes),
 * and Polygon's v2 `GET /v2/last/trade/{t}` and `GET /v2/last/nbbo/{t}` (Polygon's field names,
 * nanosecond timestamps), authenticated with the user token (rest-auth.ts). The v2 snapshots are
 * in rest-snapshot.ts and today's bars in rest-aggs.ts.
 *
 * A real-time user gets the last value ingest wrote; a delayed user the last value as of now −
 * delay, from this edge's delay line (or the live value when it is already that old) — never a
 * newer one (rest-access.ts). Every answered request is a metered query; a refused or failed one
 * is not.
 *
 * Each token may make `restRate` requests a second in bursts of `restBurst` on an edge; beyond
 * that the answer is 429 with `Retry-After`, before anything is read or metered. Real time also
 * needs the user within the concurrent-session limit, counted with their sockets
 * (rest-sessions.ts), so REST never answers real time to a user whose socket would be delayed.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { type Quote, readLastValue, type Trade } from '../ingest/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { delayWords } from './products.js';
import { type Access, delayedFields, nanos, RestAccess, type RestAccessDeps } from './rest-access.js';
import { authenticateRest, type RestCaller } from './rest-auth.js';
import { matches, symbolParam } from './rest-params.js';

export type RestDeps = RestAccessDeps;

const NOUN = { Q: 'quote', T: 'trade' } as const;

interface LastValue<T> {
  caller: RestCaller;
  access: Access;
  value: T;
}

export function restRoutes(deps: RestDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const access = new RestAccess(deps);

  async function last(c: Context<AppEnv>, type: 'Q', sym: string): Promise<LastValue<Quote>>;
  async function last(c: Context<AppEnv>, type: 'T', sym: string): Promise<LastValue<Trade>>;
  async function last(c: Context<AppEnv>, type: 'Q' | 'T', sym: string): Promise<LastValue<Quote | Trade>> {
    const now = deps.now();
    const caller = authenticateRest(c, deps, now);
    assertSymbol(sym);
    const live =
      type === 'Q' ? await readLastValue(deps.bus, 'Q', sym) : await readLastValue(deps.bus, 'T', sym);
    const product = live === null ? -1 : (deps.products.byTape[live.z] ?? -1);
    if (live === null || product < 0) {
      throw new DomainError('not_found', 'unknown_symbol', `There is no ${NOUN[type]} for ${sym}.`);
    }
    const granted = await access.require(caller.principal, product, now);
    access.assertMetering();
    const value = access.lastValue(type, sym, live, granted);
    if (value === undefined) {
      throw new DomainError(
        'not_found',
        'no_delayed_value',
        `No ${NOUN[type]} for ${sym} is ${delayWords(granted.terms.delayMs)} old yet, and delayed data is all this account may see: ${granted.words}`,
      );
    }
    access.meter(c, caller.principal, granted, sym, type);
    return { caller, access: granted, value };
  }

  const answer = (c: Context<AppEnv>, granted: Access, results: unknown) =>
    c.json({
      status: 'OK',
      request_id: c.get('requestId'),
      mode: granted.mode,
      ...delayedFields(granted),
      results,
    });

  app.get('/v1/last/quote/:sym', async (c) => {
    const { access: granted, value } = await last(c, 'Q', c.req.param('sym'));
    return answer(c, granted, value);
  });

  app.get('/v1/last/trade/:sym', async (c) => {
    const { access: granted, value } = await last(c, 'T', c.req.param('sym'));
    return answer(c, granted, value);
  });

  app.get('/v2/last/trade/:sym', async (c) => {
    const { access: granted, value } = await last(c, 'T', c.req.param('sym'));
    return answer(c, granted, v2Trade(value));
  });

  app.get('/v2/last/nbbo/:sym', async (c) => {
    const { access: granted, value } = await last(c, 'Q', c.req.param('sym'));
    return answer(c, granted, v2Quote(value));
  });

  return app;
}

export function assertSymbol(sym: string): void {
  if (!matches(symbolParam, sym)) {
    throw new DomainError(
      'invalid',
      'invalid_symbol',
      `${JSON.stringify(sym.slice(0, 40))} is not a symbol, such as AAPL or BRK.A.`,
    );
  }
}

/** A trade in Polygon's `/v2/last/trade` shape: `T` ticker, times in nanoseconds (`t` SIP, `y` participant). */
export function v2Trade(trade: Trade): Record<string, unknown> {
  const out: Record<string, unknown> = {
    T: trade.sym,
    i: trade.i,
    p: trade.p,
    q: trade.q,
    s: trade.s,
    t: nanos(trade.t),
    y: nanos(trade.t),
    x: trade.x,
    z: trade.z,
  };
  if (trade.c !== undefined) out.c = trade.c;
  return out;
}

/** A quote in Polygon's `/v2/last/nbbo` shape: `p`/`s`/`x` bid, `P`/`S`/`X` ask, times in nanoseconds. */
export function v2Quote(quote: Quote): Record<string, unknown> {
  const out: Record<string, unknown> = {
    T: quote.sym,
    P: quote.ap,
    S: quote.as,
    X: quote.ax,
    p: quote.bp,
    s: quote.bs,
    x: quote.bx,
    q: quote.q,
    t: nanos(quote.t),
    y: nanos(quote.t),
    z: quote.z,
  };
  if (quote.c !== undefined) out.c = [quote.c];
  if (quote.i !== undefined) out.i = quote.i;
  return out;
}
