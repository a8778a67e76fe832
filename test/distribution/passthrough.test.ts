/**
 * History and reference pass-through (issue 16 item 4): `restClient(userToken, hubUrl)` from
 * `@polygon.io/client-js` gets the vendor's answers through the hub; the fake vendor proves what
 * the hub sent (the broker's key, Launchpad's edge headers) and what it never sent (the user's
 * token). The clock is injected: "today" is 2026-12-02 in New York.
 */
import { serve } from '@hono/node-server';
import { GetStocksAggregatesTimespanEnum, restClient } from '@polygon.io/client-js';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../config/index.js';
import { SymbolDirectory } from '../../distribution/directory.js';
import type { EntitlementView, Principal } from '../../distribution/entitlement-view.js';
import { EdgeStats } from '../../distribution/metrics.js';
import {
  DEFAULT_PASSTHROUGH,
  isHistoryRange,
  Passthrough,
  type PassthroughOptions,
} from '../../distribution/passthrough.js';
import { productTable } from '../../distribution/products.js';
import { KeyedLimiter } from '../../distribution/rate-limit.js';
import { edgeAlias } from '../../distribution/vendor-rest.js';
import type { Decision } from '../../entitlements/index.js';
import { lastValueKey, writeSyntheticTickers } from '../../ingest/index.js';
import { type Bus, openBus } from '../../platform/bus/index.js';
import { HealthChecks } from '../../platform/health.js';
import { createApp } from '../../platform/http/app.js';
import { ClientAddresses } from '../../platform/http/client-address.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { FakePolygonRest } from '../../testing/index.js';

const VENDOR_KEY = 'vendor-key-of-the-broker';
const SECRET = 'alias-secret-for-the-tests';
/** 10:00 in New York on 2026-12-02. */
const NOW = Date.UTC(2026, 11, 2, 15, 0);

const TOKENS: Record<string, Principal> = {
  'tok-delayed-user-0001': { userId: 'u-delayed' },
  'tok-other-user-000002': { userId: 'u-other' },
  'tok-refused-user-0003': { userId: 'u-refused' },
};

const view: EntitlementView = {
  authenticate: (token) => TOKENS[token],
  decide: (userId): Decision =>
    userId === 'u-refused'
      ? { mode: 'refused', reasons: ['suspended'] }
      : { mode: 'delayed', reasons: ['no_grant'] },
  snapshot: () => undefined,
  verifiedUntil: () => Number.POSITIVE_INFINITY,
  onChange: () => () => {},
};

interface Hub {
  url: string;
  passthrough: Passthrough;
  close(): Promise<void>;
}

let vendor: FakePolygonRest;
let bus: Bus;
const hubs: Hub[] = [];

async function startHub(options: Partial<PassthroughOptions>): Promise<Hub> {
  const products = productTable(loadCatalog(undefined, 1_000));
  const passthrough = new Passthrough({
    bus,
    products,
    directory: new SymbolDirectory(bus, products),
    view,
    stats: new EdgeStats(),
    authLimiter: new KeyedLimiter(1, 1_000),
    requestLimiter: new KeyedLimiter(1_000, 1_000),
    addresses: new ClientAddresses(),
    options: { ...DEFAULT_PASSTHROUGH, ...options },
    logger: silentLogger,
    now: () => NOW,
  });
  const app = createApp({
    logger: silentLogger,
    metrics: createMetricsRegistry(),
    health: new HealthChecks(),
  });
  app.route('/', passthrough.routes());
  // What the hub's own bars answer (the other REST routes): today's ranges fall through to it.
  const bars = new Hono();
  bars.get('/v2/aggs/ticker/:sym/range/:m/:span/:from/:to', (c) =>
    c.json({ status: 'OK', source: 'hub-bars' }),
  );
  app.route('/', bars);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const address = server.address() as { port: number };
  const hub = {
    url: `http://127.0.0.1:${address.port}`,
    passthrough,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  hubs.push(hub);
  return hub;
}

/** Every header and query value the fake vendor received, as one string to search. */
function everythingSent(): string {
  return JSON.stringify(
    vendor.requests.map((r) => ({ headers: r.headers, query: [...r.query], path: r.path })),
  );
}

let hub: Hub;

beforeAll(async () => {
  vendor = await FakePolygonRest.start({ key: VENDOR_KEY });
  bus = await openBus();
  // AAPL trades on tape C (UTP); the directory learns it from the last-value cache.
  await bus.kv.setFields(
    lastValueKey('Q'),
    new Map([
      [
        'AAPL',
        JSON.stringify({
          ev: 'Q',
          sym: 'AAPL',
          bx: 12,
          bp: 1,
          bs: 1,
          ax: 12,
          ap: 2,
          as: 1,
          t: NOW,
          q: 1,
          z: 3,
        }),
      ],
    ]),
  );
  hub = await startHub({ url: vendor.url, apiKey: VENDOR_KEY, aliasSecret: SECRET });
});

afterAll(async () => {
  for (const h of hubs) await h.close();
  await vendor?.close();
  await bus?.close();
});

describe('history pass-through', () => {
  it('answers a past range through restClient with the edge headers, the broker key and never the user token', async () => {
    const rest = restClient('tok-delayed-user-0001', hub.url);
    const bars = await rest.getStocksAggregates(
      'AAPL',
      1,
      GetStocksAggregatesTimespanEnum.Day,
      '2026-11-02',
      '2026-11-06',
    );
    expect(bars.status).toBe('OK');
    expect(bars.results).toHaveLength(5);
    const [sent] = vendor.requestsTo('/v2/aggs/ticker/AAPL/range/1/day/2026-11-02/2026-11-06');
    expect(sent).toBeDefined();
    expect(sent!.headers.authorization).toBe(`Bearer ${VENDOR_KEY}`);
    expect(sent!.headers['x-polygon-edge-id']).toBe(edgeAlias(SECRET, 'u-delayed'));
    expect(sent!.headers['x-polygon-edge-id']).toMatch(/^u[0-9a-f]{32}$/);
    expect(sent!.headers['x-polygon-edge-ip-address']).toBe('127.0.0.1');
    expect(sent!.headers['x-polygon-edge-user-agent']).toMatch(/axios/i);
    expect(sent!.query.has('apiKey')).toBe(false);
    expect(everythingSent()).not.toContain('tok-delayed-user-0001');
    expect(everythingSent()).not.toContain('u-delayed');
  });

  it('serves the same range from the cache, and still asks the vendor for a user it has not seen today', async () => {
    const before = vendor.requests.length;
    const again = await fetch(
      `${hub.url}/v2/aggs/ticker/AAPL/range/1/day/2026-11-02/2026-11-06?apiKey=tok-delayed-user-0001`,
    );
    expect(again.status).toBe(200);
    expect(again.headers.get('x-mdhub-cache')).toBe('hit');
    expect(vendor.requests.length).toBe(before);
    const other = await restClient('tok-other-user-000002', hub.url).getStocksAggregates(
      'AAPL',
      1,
      GetStocksAggregatesTimespanEnum.Day,
      '2026-11-02',
      '2026-11-06',
    );
    expect(other.results).toHaveLength(5);
    expect(vendor.requests.length).toBe(before + 1);
    expect(vendor.requests.at(-1)!.headers['x-polygon-edge-id']).toBe(edgeAlias(SECRET, 'u-other'));
  });

  it('gives a user the same alias on every edge', async () => {
    const second = await startHub({ url: vendor.url, apiKey: VENDOR_KEY, aliasSecret: SECRET });
    await restClient('tok-delayed-user-0001', second.url).getPreviousStocksAggregates('AAPL');
    expect(vendor.requestsTo('/v2/aggs/ticker/AAPL/prev').at(-1)!.headers['x-polygon-edge-id']).toBe(
      edgeAlias(SECRET, 'u-delayed'),
    );
  });

  it("leaves a range reaching today to the hub's own bars, by New York's calendar day", async () => {
    const before = vendor.requests.length;
    const res = await fetch(
      `${hub.url}/v2/aggs/ticker/AAPL/range/1/minute/2026-12-02/2026-12-02?apiKey=tok-delayed-user-0001`,
    );
    expect(await res.json()).toEqual({ status: 'OK', source: 'hub-bars' });
    expect(vendor.requests.length).toBe(before);
    // 03:00 UTC on 2026-12-03 is still 2026-12-02 in New York.
    expect(isHistoryRange('2026-12-02', Date.UTC(2026, 11, 3, 3))).toBe(false);
    expect(isHistoryRange('2026-12-02', Date.UTC(2026, 11, 3, 6))).toBe(true);
    expect(isHistoryRange(String(Date.UTC(2026, 11, 1, 20)), NOW)).toBe(true);
  });

  it('refuses a user entitled to nothing of the product, and a missing token, without calling the vendor', async () => {
    const before = vendor.requests.length;
    const refused = await fetch(`${hub.url}/v2/aggs/ticker/AAPL/prev?apiKey=tok-refused-user-0003`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'insufficient_entitlement',
    );
    const anonymous = await fetch(`${hub.url}/v2/aggs/ticker/AAPL/prev`);
    expect(anonymous.status).toBe(401);
    const badRange = await fetch(
      `${hub.url}/v2/aggs/ticker/AAPL/range/1/fortnight/2026-11-01/2026-11-02?apiKey=tok-delayed-user-0001`,
    );
    expect(badRange.status).toBe(400);
    expect(vendor.requests.length).toBe(before);
  });
});

describe('reference pass-through', () => {
  it('lists tickers page by page, each next_url pointing at the hub', async () => {
    const first = (await (
      await fetch(`${hub.url}/v3/reference/tickers?limit=2&apiKey=tok-delayed-user-0001`)
    ).json()) as {
      results: Array<{ ticker: string }>;
      next_url: string;
    };
    expect(first.results.map((t) => t.ticker)).toEqual(['AAPL', 'IBM']);
    expect(first.next_url.startsWith(`${hub.url}/v3/reference/tickers?`)).toBe(true);
    // The client library follows next_url itself, appending the token: to the hub, never the vendor.
    const all = await restClient('tok-delayed-user-0001', hub.url, { pagination: true }).listTickers(
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      2,
    );
    expect(all.results?.map((t) => t.ticker).sort()).toEqual(['AAPL', 'IBM', 'MSFT']);
    expect(everythingSent()).not.toContain('tok-delayed-user-0001');
  });

  it('answers ticker details and market status', async () => {
    const rest = restClient('tok-delayed-user-0001', hub.url);
    expect((await rest.getTicker('MSFT')).results?.name).toBe('Microsoft Corp');
    expect((await rest.getMarketStatus()).market).toBe('closed');
    const missing = await fetch(`${hub.url}/v3/reference/tickers/NOPE?apiKey=tok-delayed-user-0001`);
    expect(missing.status).toBe(404);
  });
});

describe('vendor failures', () => {
  it('answers 502 with the vendor status and message, and 504 when the vendor is too slow', async () => {
    vendor.failWith(500, { status: 'ERROR', request_id: 'x', error: 'database on fire' });
    const failed = await fetch(`${hub.url}/v1/open-close/AAPL/2026-11-27?apiKey=tok-delayed-user-0001`);
    expect(failed.status).toBe(502);
    expect(await failed.json()).toMatchObject({
      error: { code: 'vendor_error', details: { vendorStatus: 500, vendorMessage: 'database on fire' } },
    });
    const slow = await startHub({ url: vendor.url, apiKey: VENDOR_KEY, aliasSecret: SECRET, timeoutMs: 100 });
    vendor.stallMs = 2_000;
    try {
      const timedOut = await fetch(`${slow.url}/v1/marketstatus/now?apiKey=tok-other-user-000002`);
      expect(timedOut.status).toBe(504);
      expect(((await timedOut.json()) as { error: { code: string } }).error.code).toBe('vendor_timeout');
    } finally {
      vendor.stallMs = 0;
    }
  });

  it('refuses a day not over yet for open-close', async () => {
    const today = await fetch(`${hub.url}/v1/open-close/AAPL/2026-12-02?apiKey=tok-delayed-user-0001`);
    expect(today.status).toBe(400);
    expect(((await today.json()) as { error: { code: string } }).error.code).toBe('not_history');
  });
});

describe('without a vendor key (synthetic feed)', () => {
  it("lists the synthetic market's tickers in Polygon's shape and answers 503 naming POLYGON_API_KEY elsewhere", async () => {
    const synthetic = await startHub({ apiKey: undefined });
    await writeSyntheticTickers(bus, [
      { sym: 'ZZT', tape: 3, name: 'Zed Zed Tech', type: 'CS' },
      { sym: 'ABC', tape: 1, name: 'Abc Corp', type: 'CS' },
      { sym: 'MID', tape: 2, name: 'Mid Cap Fund', type: 'ETF' },
    ]);
    const rest = restClient('tok-delayed-user-0001', synthetic.url);
    const page = await rest.listTickers(
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      2,
    );
    expect(page.results).toEqual([
      expect.objectContaining({
        ticker: 'ABC',
        market: 'stocks',
        locale: 'us',
        primary_exchange: 'XNYS',
        active: true,
      }),
      expect.objectContaining({ ticker: 'MID', primary_exchange: 'ARCX' }),
    ]);
    const next = (await (await fetch(`${page.next_url}&apiKey=tok-delayed-user-0001`)).json()) as {
      results: Array<{ ticker: string }>;
    };
    expect(next.results.map((t) => t.ticker)).toEqual(['ZZT']);
    expect((await rest.getTicker('ZZT')).results?.primary_exchange).toBe('XNAS');
    const status = await fetch(`${synthetic.url}/v1/marketstatus/now?apiKey=tok-delayed-user-0001`);
    expect(status.status).toBe(503);
    expect(((await status.json()) as { error: { message: string } }).error.message).toContain(
      'POLYGON_API_KEY',
    );
  });
});
