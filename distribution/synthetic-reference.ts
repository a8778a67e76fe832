/**
 * `/v3/reference/tickers[/{t}]` without a vendor key: the synthetic market's listings (the
 * ingest's ticker list on the bus) in Polygon's ListTickers and GetTicker shapes, with the
 * filters, order and cursor pagination of Polygon's API, so `restClient(token, hubUrl)
 * .listTickers(…)` pages through them as it would through the vendor's.
 *
 * The cursor carries the request's filters and the next offset (base64url JSON): a client that
 * follows `next_url` gets the next page of the same question.
 */

import { z } from 'zod';
import type { ReferenceTicker } from '../ingest/index.js';
import { DomainError } from '../platform/errors.js';
import { limitParam, valid } from './rest-params.js';

/** Polygon's primary exchange (MIC) of each tape's listings: NYSE, NYSE Arca, Nasdaq. */
const EXCHANGE = ['', 'XNYS', 'ARCX', 'XNAS'] as const;
export const MAX_TICKERS_LIMIT = 1_000;
/** The query parameters a request may filter by (the cursor carries them to the next page). */
const FILTERS = [
  'ticker',
  'ticker.gt',
  'ticker.gte',
  'ticker.lt',
  'ticker.lte',
  'search',
  'market',
  'type',
  'active',
  'exchange',
  'limit',
  'order',
  'sort',
] as const;
/** The fields `sort` may name, as Polygon's are ordered: by that field, then by ticker. */
const SORTS = ['ticker', 'name', 'market', 'locale', 'primary_exchange', 'type', 'currency_name'] as const;

const tickersLimit = limitParam(MAX_TICKERS_LIMIT);
const sortParam = z.enum(SORTS).describe('The field the list is ordered by, then by ticker (default ticker)');

/** ListTickers' query parameters, as documented (rest-docs.ts) and checked here. */
export const tickersQuery = z.object({
  ticker: z.string().optional().describe('Exactly this ticker'),
  'ticker.gt': z.string().optional(),
  'ticker.gte': z.string().optional(),
  'ticker.lt': z.string().optional(),
  'ticker.lte': z.string().optional(),
  search: z.string().optional().describe('Text searched in the ticker and the name'),
  market: z.string().optional().describe('stocks'),
  type: z.string().optional().describe('CS, ETF, …'),
  active: z.enum(['true', 'false']).optional(),
  exchange: z.string().optional().describe('The primary exchange’s MIC (XNYS, ARCX, XNAS)'),
  limit: tickersLimit.optional(),
  order: z.enum(['asc', 'desc']).optional(),
  sort: sortParam.optional(),
  cursor: z.string().optional().describe('From `next_url`: the next page of the same question'),
});

export interface PolygonTicker {
  ticker: string;
  name: string;
  market: 'stocks';
  locale: 'us';
  primary_exchange: string;
  type: string;
  active: true;
  currency_name: 'usd';
}

export function polygonTicker({ sym, tape, name, type }: ReferenceTicker): PolygonTicker {
  return {
    ticker: sym,
    name,
    market: 'stocks',
    locale: 'us',
    primary_exchange: EXCHANGE[tape],
    type,
    active: true,
    currency_name: 'usd',
  };
}

/** One page of ListTickers' answer: the page's tickers and the query of the next page, if any. */
export function listTickers(
  tickers: readonly ReferenceTicker[],
  search: URLSearchParams,
): { results: PolygonTicker[]; next?: string } {
  const params = filters(search);
  const limit =
    params.limit === undefined
      ? 100
      : valid(
          tickersLimit,
          params.limit,
          'invalid_limit',
          `limit must be a whole number from 1 to ${MAX_TICKERS_LIMIT}.`,
        );
  const sort = valid(
    sortParam,
    params.sort ?? 'ticker',
    'invalid_sort',
    `sort must be one of ${SORTS.join(', ')}.`,
  );
  const text = params.search?.toLowerCase();
  const list = tickers.map(polygonTicker).filter((t) => {
    const sym = t.ticker;
    if (params.ticker !== undefined && sym !== params.ticker) return false;
    if (params['ticker.gt'] !== undefined && !(sym > params['ticker.gt'])) return false;
    if (params['ticker.gte'] !== undefined && !(sym >= params['ticker.gte'])) return false;
    if (params['ticker.lt'] !== undefined && !(sym < params['ticker.lt'])) return false;
    if (params['ticker.lte'] !== undefined && !(sym <= params['ticker.lte'])) return false;
    if (params.market !== undefined && params.market !== 'stocks') return false;
    if (params.type !== undefined && params.type !== t.type) return false;
    if (params.active === 'false') return false;
    if (params.exchange !== undefined && params.exchange !== t.primary_exchange) return false;
    return text === undefined || sym.toLowerCase().includes(text) || t.name.toLowerCase().includes(text);
  });
  list.sort((a, b) => compare(a[sort], b[sort]) || compare(a.ticker, b.ticker));
  if (params.order === 'desc') list.reverse();
  const offset = Number(params.offset ?? 0);
  const results = list.slice(offset, offset + limit);
  if (offset + limit >= list.length) return { results };
  const cursor = Buffer.from(JSON.stringify({ ...params, offset: String(offset + limit) })).toString(
    'base64url',
  );
  return { results, next: `cursor=${cursor}` };
}

/** GetTicker's `results`: the listing of `sym`, or a 404. */
export function getTicker(tickers: readonly ReferenceTicker[], sym: string): PolygonTicker {
  const found = tickers.find((ticker) => ticker.sym === sym);
  if (found === undefined) {
    throw new DomainError(
      'not_found',
      'not_found',
      `The synthetic market has no ticker ${sym.slice(0, 40)}.`,
    );
  }
  return polygonTicker(found);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The filters of a tickers request: its own, or those its cursor carries. */
function filters(search: URLSearchParams): Record<string, string | undefined> {
  const cursor = search.get('cursor');
  if (cursor !== null) {
    try {
      const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
      const params: Record<string, string> = {};
      for (const [name, value] of Object.entries(parsed)) if (typeof value === 'string') params[name] = value;
      if (/^\d{1,9}$/.test(params.offset ?? '')) return params;
    } catch {
      // Falls through to the refusal.
    }
    throw new DomainError('invalid', 'invalid_cursor', 'The cursor is not one this hub gave out.');
  }
  const params: Record<string, string | undefined> = {};
  for (const name of FILTERS) params[name] = search.get(name) ?? undefined;
  return params;
}
