/**
 * What every REST route serving today's market data decides before it reads a value, in one place:
 * the mode per product (the decision, with the user's sessions counted when it would be real time),
 * the refusal, the cut-off instant of the answer, the delayed last values and the metering.
 *
 * - The **cut** of an answer is the instant its data is as of: `now` for real time, `now − delay`
 *   for delayed. Nothing stamped after the cut is ever in a delayed answer (DESIGN rule 4).
 * - A delayed last quote or trade is the one the edge's delay line released (the value as of the
 *   cut), or the live value when it is already older than the cut (last-value.ts, shared with the
 *   WebSocket's snapshot on subscribe).
 * - Every answered ticker is one metered query on its product, in the mode it was answered in
 *   (DESIGN rule 6): a watchlist of 20 tickers is 20 queries. Only real-time ones are displays.
 */
import type { Context } from 'hono';
import type { Product } from '../config/index.js';
import { type Decision, REASON_TEXT, type Reason } from '../entitlements/index.js';
import { readLastValues } from '../ingest/index.js';
import type { Bus } from '../platform/bus/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import type { QueryType } from '../usage/index.js';
import type { DelayLines } from './delay-line.js';
import type { EntitlementView, Principal } from './entitlement-view.js';
import { lastValueAsOf } from './last-value.js';
import type { Metering } from './metering.js';
import type { EdgeStats } from './metrics.js';
import { delayWords, type ProductTable } from './products.js';
import type { RestAuthDeps } from './rest-auth.js';
import type { UsageSpool } from './spool.js';

export interface RestAccessDeps extends RestAuthDeps {
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

/** How one product's data is answered to the caller. */
export interface Access {
  product: number;
  terms: Product;
  mode: 'realtime' | 'delayed';
  reasons: Reason[];
  /** The reasons in words. */
  words: string;
  /** The instant the answer is as of: now, or now − delay. */
  cut: number;
}

/** A product the caller may not see at all, with why. */
export interface Refusal {
  product: number;
  terms: Product;
  reasons: Reason[];
  words: string;
}

export class RestAccess {
  readonly deps: RestAccessDeps;

  constructor(deps: RestAccessDeps) {
    this.deps = deps;
  }

  /**
   * The access to each product, decided at `now`. The user's sessions are counted (one round trip)
   * only when some product would be real time, so the session limit holds on REST as on sockets.
   */
  async decide(
    principal: Principal,
    products: Iterable<number>,
    now: number,
  ): Promise<Map<number, Access | Refusal>> {
    const { view, products: table } = this.deps;
    const decisions = new Map<number, Decision>();
    for (const product of products) {
      const terms = table.list[product];
      if (terms !== undefined) decisions.set(product, view.decide(principal.userId, terms.id, now));
    }
    if ([...decisions.values()].some((decision) => decision.mode === 'realtime')) {
      const sessions = await this.deps.sessionsWith(principal);
      if (sessions !== undefined) {
        for (const [product, decision] of decisions) {
          if (decision.mode !== 'realtime') continue;
          const terms = table.list[product] as Product;
          decisions.set(product, view.decide(principal.userId, terms.id, now, sessions));
        }
      }
    }
    const out = new Map<number, Access | Refusal>();
    for (const [product, decision] of decisions) {
      const terms = table.list[product] as Product;
      const words = decision.reasons.map((reason) => REASON_TEXT[reason]).join(' ');
      if (decision.mode === 'refused') {
        out.set(product, { product, terms, reasons: decision.reasons, words });
      } else {
        const cut = decision.mode === 'realtime' ? now : now - terms.delayMs;
        out.set(product, { product, terms, mode: decision.mode, reasons: decision.reasons, words, cut });
      }
    }
    return out;
  }

  /** The access to one product, or 403 `insufficient_entitlement` with the reasons. */
  async require(principal: Principal, product: number, now: number): Promise<Access> {
    const access = (await this.decide(principal, [product], now)).get(product);
    if (access === undefined) throw new DomainError('not_found', 'unknown_symbol', 'No such product.');
    if (!isAccess(access)) throw this.refusal(access);
    return access;
  }

  refusal(refused: Refusal): DomainError {
    this.deps.stats.refuse(refused.reasons[0] ?? 'refused');
    return new DomainError(
      'forbidden',
      'insufficient_entitlement',
      `Not entitled to ${refused.terms.id} data: ${refused.words}`,
      { details: { product: refused.terms.id, reasons: refused.reasons } },
    );
  }

  /** 503 before anything is answered when metering could not record the answer. */
  assertMetering(): void {
    if (this.deps.spool.full) {
      throw new DomainError(
        'unavailable',
        'metering_unavailable',
        'Usage metering is backed up; retry shortly.',
      );
    }
  }

  /** The product index of each symbol, by the tape of its last quote or trade (-1 where unknown). */
  async productsOf(syms: readonly string[]): Promise<number[]> {
    if (syms.length === 0) return [];
    const [quotes, trades] = await Promise.all([
      readLastValues(this.deps.bus, 'Q', syms),
      readLastValues(this.deps.bus, 'T', syms),
    ]);
    return syms.map((_, k) => {
      const event = quotes[k] ?? trades[k];
      return event == null ? -1 : (this.deps.products.byTape[event.z] ?? -1);
    });
  }

  /** The last quote or trade of `sym` as of the access's cut (last-value.ts); undefined when there is none that old. */
  lastValue<T extends { t: number }>(
    type: 'Q' | 'T',
    sym: string,
    live: T | null,
    access: Access,
  ): T | undefined {
    return lastValueAsOf(this.deps.lines, type, sym, live, access.mode, access.cut);
  }

  /** Records one answered ticker as a query on its product. */
  meter(c: Context<AppEnv>, principal: Principal, access: Access, sym: string, type: QueryType): void {
    this.deps.metering.query({
      userId: principal.userId,
      deviceId: principal.deviceId,
      usage: principal.usage,
      product: access.product,
      symbol: sym,
      type,
      mode: access.mode,
      requestId: c.get('requestId'),
      at: this.deps.now(),
    });
  }
}

export function isAccess(access: Access | Refusal): access is Access {
  return 'mode' in access;
}

/** The additive fields of a delayed answer, as on `/v1`: the reason, all reasons and a sentence. */
export function delayedFields(access: Access): Record<string, unknown> {
  if (access.mode !== 'delayed') return {};
  return {
    reason: access.reasons[0],
    reasons: access.reasons,
    message: `Delayed by ${delayWords(access.terms.delayMs)}: ${access.words}`,
  };
}

/** Epoch milliseconds as Polygon's v2 nanosecond timestamps. */
export function nanos(ms: number): number {
  return ms * 1_000_000;
}
