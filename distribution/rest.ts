/**
 * REST snapshots: `GET /v1/last/quote/:sym` and `GET /v1/last/trade/:sym`, authenticated with the
 * user token (`Authorization: Bearer …` or `?apiKey=…`, as Polygon's REST API takes it).
 *
 * A real-time user gets the last value ingest wrote; a delayed user the last value as of now −
 * delay, from this edge's delay line (or the live value when it is already that old) — never a
 * newer one. Every answered snapshot is a metered query; a refused or failed request is not.
 *
 * Each token may make `restRate` requests a second in bursts of `restBurst` on an edge; beyond
 * that the answer is 429 with `Retry-After`, before anything is read or metered. Real time also
 * needs the user within the concurrent-session limit, counted with their sockets
 * (rest-sessions.ts), so REST never answers real time to a user whose socket would be delayed.
 */
import { Hono } from 'hono';
import { REASON_TEXT } from '../entitlements/index.js';
import { readLastValue } from '../ingest/index.js';
import type { Bus } from '../platform/bus/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { isSymbol, typeIndex } from './channels.js';
import type { DelayLines } from './delay-line.js';
import type { EntitlementView, Principal } from './entitlement-view.js';
import type { Metering } from './metering.js';
import type { EdgeStats } from './metrics.js';
import { delayWords, type ProductTable } from './products.js';
import { authenticateRest, type RestAuthDeps } from './rest-auth.js';
import type { UsageSpool } from './spool.js';

export interface RestDeps extends RestAuthDeps {
  bus: Bus;
  view: EntitlementView;
  products: ProductTable;
  lines: DelayLines;
  metering: Metering;
  spool: UsageSpool;
  stats: EdgeStats;
  /** The user's session count with this request, for the session limit; undefined: it adds none. */
  sessionsWith: (principal: Principal) => Promise<number | undefined>;
  now: () => number;
}

const KINDS = { quote: 'Q', trade: 'T' } as const;

export function restRoutes(deps: RestDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/v1/last/:kind{quote|trade}/:sym', async (c) => {
    const type = KINDS[c.req.param('kind') as keyof typeof KINDS];
    const noun = type === 'Q' ? 'quote' : 'trade';
    const sym = c.req.param('sym');
    const now = deps.now();
    const { principal } = authenticateRest(c, deps, now);
    if (!isSymbol(sym)) {
      throw new DomainError(
        'invalid',
        'invalid_symbol',
        `${JSON.stringify(sym.slice(0, 40))} is not a symbol, such as AAPL or BRK.A.`,
      );
    }
    const live =
      type === 'Q' ? await readLastValue(deps.bus, 'Q', sym) : await readLastValue(deps.bus, 'T', sym);
    const product = live === null ? -1 : (deps.products.byTape[live.z] ?? -1);
    const terms = deps.products.list[product];
    if (live === null || terms === undefined) {
      throw new DomainError('not_found', 'unknown_symbol', `There is no ${noun} for ${sym}.`);
    }
    let decision = deps.view.decide(principal.userId, terms.id, now);
    if (decision.mode === 'realtime') {
      const sessions = await deps.sessionsWith(principal);
      if (sessions !== undefined) decision = deps.view.decide(principal.userId, terms.id, now, sessions);
    }
    const words = decision.reasons.map((reason) => REASON_TEXT[reason]).join(' ');
    if (decision.mode === 'refused') {
      deps.stats.refuse(decision.reasons[0] ?? 'refused');
      throw new DomainError(
        'forbidden',
        'insufficient_entitlement',
        `Not entitled to ${terms.id} data: ${words}`,
        {
          details: { product: terms.id, reasons: decision.reasons },
        },
      );
    }
    if (deps.spool.full) {
      throw new DomainError(
        'unavailable',
        'metering_unavailable',
        'Usage metering is backed up; retry shortly.',
      );
    }
    let results: unknown = live;
    if (decision.mode === 'delayed') {
      const released = deps.lines.releasedValue(typeIndex(type), sym);
      const liveOldEnough = live.t + terms.delayMs <= now;
      if (released !== undefined && (!liveOldEnough || released.t >= live.t)) {
        results = JSON.parse(released.buf.toString('utf8', 0, released.len));
      } else if (!liveOldEnough) {
        throw new DomainError(
          'not_found',
          'no_delayed_value',
          `No ${noun} for ${sym} is ${delayWords(terms.delayMs)} old yet, and delayed data is all this account may see: ${words}`,
        );
      }
    }
    deps.metering.query({
      userId: principal.userId,
      deviceId: principal.deviceId,
      usage: principal.usage,
      product,
      symbol: sym,
      type,
      mode: decision.mode,
      requestId: c.get('requestId'),
      at: now,
    });
    const body: Record<string, unknown> = {
      status: 'OK',
      request_id: c.get('requestId'),
      mode: decision.mode,
    };
    if (decision.mode === 'delayed') {
      body.reason = decision.reasons[0];
      body.reasons = decision.reasons;
      body.message = `Delayed by ${delayWords(terms.delayMs)}: ${words}`;
    }
    body.results = results;
    return c.json(body);
  });

  return app;
}
