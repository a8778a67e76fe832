/**
 * The edge's HTTP surface as the OpenAPI document shows it: Polygon's REST routes the hub answers
 * itself or passes through to the vendor (rest.ts, rest-snapshot.ts, rest-aggs.ts,
 * passthrough.ts), from the schemas those routes check their parameters with (rest-params.ts),
 * and the `/stocks` WebSocket upgrade. docs/distribution.md says what each route meters.
 */
import { z } from 'zod';
import {
  errorResponses,
  jsonResponse,
  PUBLIC,
  type RouteDoc,
  type RouteGroup,
} from '../platform/http/openapi.js';
import { aggsLimit } from './rest-aggs.js';
import {
  boundParam,
  dayParam,
  multiplierParam,
  sortParam,
  symbolParam,
  timespanParam,
} from './rest-params.js';
import { MAX_WATCHLIST } from './rest-snapshot.js';
import { tickersQuery } from './synthetic-reference.js';

/** A user token, as Polygon's REST API takes it: `Authorization: Bearer` or `?apiKey=`. */
const USER: Array<Record<string, string[]>> = [{ userToken: [] }, { userApiKey: [] }];

const mode = z
  .enum(['realtime', 'delayed'])
  .describe('The mode this answer is in: real time, or as of now − the product’s delay (additive)');

/** The envelope of the hub's own answers: Polygon's, plus the mode and, when delayed, why. */
function answer(fields: Record<string, z.ZodType>) {
  return z.object({
    status: z.literal('OK'),
    request_id: z.string(),
    mode,
    reason: z.string().optional().describe('When delayed: the first reason'),
    reasons: z.array(z.string()).optional(),
    message: z.string().optional().describe('When delayed: by how much, and why, in a sentence'),
    ...fields,
  });
}

/** A vendor answer passed through: Polygon's own shape, `next_url` pointing back at this hub. */
const vendorAnswer = z.record(z.string(), z.unknown()).describe('Polygon’s answer, as the vendor gave it');

const sym = z.object({ sym: symbolParam });
const results = (schema: z.ZodType) => answer({ results: schema });

const REFUSALS = [
  400,
  [401, 'Missing, unknown or revoked user token'],
  [403, 'Not entitled to this product’s data (insufficient_entitlement)'],
  429,
] as const;
const METERING = [503, 'Usage metering is backed up (metering_unavailable); retry shortly'] as const;
const VENDOR = [502, 504] as const;

function rest(
  path: string,
  summary: string,
  request: RouteDoc['request'],
  ok: z.ZodType,
  ...more: Array<number | readonly [number, string]>
): RouteDoc {
  return {
    method: 'get',
    path,
    tags: ['market data'],
    summary,
    security: USER,
    ...(request ? { request } : {}),
    responses: { 200: jsonResponse(ok, 'The answer'), ...errorResponses(...REFUSALS, ...more) },
  };
}

const SNAPSHOT = '/v2/snapshot/locale/us/markets/stocks';

/** Every REST route an edge serves, at the root. */
export const restRouteDocs: RouteGroup = {
  routes: [
    rest(
      '/v1/last/quote/{sym}',
      'The last quote of a ticker (the hub’s shape), in the caller’s mode',
      { params: sym },
      results(z.record(z.string(), z.unknown())),
      [
        404,
        'No quote for the ticker (unknown_symbol), or none old enough for a delayed user (no_delayed_value)',
      ],
      METERING,
    ),
    rest(
      '/v1/last/trade/{sym}',
      'The last trade of a ticker (the hub’s shape), in the caller’s mode',
      { params: sym },
      results(z.record(z.string(), z.unknown())),
      [404, 'No trade for the ticker, or none old enough for a delayed user'],
      METERING,
    ),
    rest(
      '/v2/last/trade/{sym}',
      'The last trade, in Polygon’s /v2/last/trade shape (nanosecond times)',
      { params: sym },
      results(z.record(z.string(), z.unknown())),
      [404, 'No trade for the ticker, or none old enough for a delayed user'],
      METERING,
    ),
    rest(
      '/v2/last/nbbo/{sym}',
      'The last NBBO quote, in Polygon’s /v2/last/nbbo shape (nanosecond times)',
      { params: sym },
      results(z.record(z.string(), z.unknown())),
      [404, 'No quote for the ticker, or none old enough for a delayed user'],
      METERING,
    ),
    rest(
      `${SNAPSHOT}/tickers/{sym}`,
      'One ticker’s snapshot (day, minute, previous day, last trade and quote) as of the caller’s cut',
      { params: sym },
      answer({ ticker: z.record(z.string(), z.unknown()) }),
      [404, 'No snapshot for the ticker (unknown_symbol)'],
      METERING,
    ),
    rest(
      `${SNAPSHOT}/tickers`,
      'Snapshots of a watchlist (no list: every ticker), each in its product’s mode; refused products listed',
      {
        query: z.object({
          tickers: z
            .string()
            .optional()
            .describe(`Comma-separated tickers, at most ${MAX_WATCHLIST} (too_many_tickers beyond)`),
        }),
      },
      answer({
        count: z.number().int(),
        refused: z.array(z.record(z.string(), z.unknown())).optional(),
        tickers: z.array(z.record(z.string(), z.unknown())),
      }),
      METERING,
    ),
    rest(
      `${SNAPSHOT}/{direction}`,
      'The day’s top 20 gainers or losers among the products the caller receives',
      { params: z.object({ direction: z.enum(['gainers', 'losers']) }) },
      answer({ tickers: z.array(z.record(z.string(), z.unknown())) }),
      METERING,
    ),
    rest(
      '/v2/aggs/ticker/{sym}/range/{multiplier}/{timespan}/{from}/{to}',
      'Bars over a range: today’s from the hub’s own bars in the caller’s mode, earlier days from the vendor',
      {
        params: z.object({
          sym: symbolParam,
          multiplier: multiplierParam,
          timespan: timespanParam,
          from: boundParam,
          to: boundParam,
        }),
        query: z.object({
          adjusted: z.enum(['true', 'false']).optional(),
          sort: sortParam.optional(),
          limit: aggsLimit.optional(),
        }),
      },
      answer({
        ticker: z.string(),
        adjusted: z.boolean(),
        queryCount: z.number().int(),
        resultsCount: z.number().int(),
        count: z.number().int(),
        results: z.array(z.record(z.string(), z.unknown())),
        history: z
          .literal('unavailable')
          .optional()
          .describe('Days before today were asked for, and there is no vendor key'),
        historyMessage: z.string().optional(),
      }).or(vendorAnswer),
      [404, 'No bars for the ticker (unknown_symbol)'],
      METERING,
      ...VENDOR,
    ),
    rest(
      '/v2/aggs/ticker/{sym}/prev',
      'The previous day’s bar (from the vendor)',
      { params: sym },
      vendorAnswer,
      ...VENDOR,
    ),
    rest(
      '/v1/open-close/{sym}/{date}',
      'A past day’s open, high, low and close (from the vendor)',
      { params: z.object({ sym: symbolParam, date: dayParam }) },
      vendorAnswer,
      ...VENDOR,
    ),
    rest(
      '/v3/reference/tickers',
      'The listed tickers (from the vendor, or the synthetic market’s without a vendor key), paged by cursor',
      { query: tickersQuery },
      vendorAnswer,
      ...VENDOR,
    ),
    rest(
      '/v3/reference/tickers/{sym}',
      'One ticker’s details (from the vendor, or the synthetic market’s)',
      { params: sym },
      vendorAnswer,
      404,
      ...VENDOR,
    ),
    rest(
      '/v1/marketstatus/now',
      'Whether the markets are open now (from the vendor)',
      undefined,
      vendorAnswer,
      ...VENDOR,
    ),
  ],
};

/** `GET /stocks`: the client WebSocket (Polygon's stocks protocol), documented as its upgrade. */
export const streamRouteDocs: RouteGroup = {
  routes: [
    {
      method: 'get',
      path: '/stocks',
      tags: ['market data'],
      summary: 'The market-data WebSocket: Polygon’s stocks protocol (auth, subscribe Q.AAPL, T.*, …)',
      security: PUBLIC,
      description:
        'Upgrade to a WebSocket, then send {"action":"auth","params":"<user token>"} and subscriptions. Each channel is real time or delayed per the user’s entitlement, said in its subscribe status; README’s “Client WebSocket protocol” has every message.',
      responses: {
        101: { description: 'Switching protocols: the WebSocket is open' },
        ...errorResponses([404, 'A plain GET, not a WebSocket upgrade: no such route']),
      },
    },
  ],
};
