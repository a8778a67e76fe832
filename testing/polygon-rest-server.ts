/**
 * A Polygon REST API server for tests: the history and reference routes the hub passes through
 * (`/v2/aggs/ticker/{t}/range/…`, `/v2/aggs/ticker/{t}/prev`, `/v1/open-close/{t}/{date}`,
 * `/v3/reference/tickers[/{t}]`, `/v1/marketstatus/now`) in Polygon's shapes, authenticated by
 * the key as `Authorization: Bearer` or `?apiKey=` like the real one. It records every request
 * (path, query and headers) so a test can prove what the hub sent — Launchpad's edge headers — and
 * what it never sent: the user's token. Tests break it on purpose: `failWith` answers an error,
 * `stallMs` holds answers back past the hub's timeout.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakePolygonRestOptions {
  /** The API key it accepts. */
  key: string;
  /** The tickers it knows, with their primary exchange (default AAPL and MSFT on XNAS, IBM on XNYS). */
  tickers?: ReadonlyArray<{ ticker: string; name: string; primary_exchange: string }>;
}

export interface RecordedRestRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
}

const DAY_MS = 86_400_000;

export class FakePolygonRest {
  /** Every request received, in order. */
  readonly requests: RecordedRestRequest[] = [];
  /** The next answers, in order, are this status and body instead of the real one. */
  readonly failures: Array<{ status: number; body: unknown }> = [];
  /** Holds every answer back this long (0: none). */
  stallMs = 0;
  readonly #options: FakePolygonRestOptions;
  readonly #http: Server;
  readonly #tickers: ReadonlyArray<{ ticker: string; name: string; primary_exchange: string }>;

  private constructor(options: FakePolygonRestOptions, http: Server) {
    this.#options = options;
    this.#http = http;
    this.#tickers = options.tickers ?? [
      { ticker: 'AAPL', name: 'Apple Inc.', primary_exchange: 'XNAS' },
      { ticker: 'IBM', name: 'International Business Machines Corporation', primary_exchange: 'XNYS' },
      { ticker: 'MSFT', name: 'Microsoft Corp', primary_exchange: 'XNAS' },
    ];
    http.on('request', (req, res) => this.#handle(req, res));
  }

  static async start(options: FakePolygonRestOptions): Promise<FakePolygonRest> {
    const http = createServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return new FakePolygonRest(options, http);
  }

  /** The base URL to give the hub as POLYGON_REST_URL. */
  get url(): string {
    return `http://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  /** Answers the next request with `status` and `body` (Polygon's error shape by default). */
  failWith(
    status: number,
    body: unknown = { status: 'ERROR', request_id: 'fake', error: `fake ${status}` },
  ): void {
    this.failures.push({ status, body });
  }

  /** Requests whose path starts with `prefix`. */
  requestsTo(prefix: string): RecordedRestRequest[] {
    return this.requests.filter((request) => request.path.startsWith(prefix));
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
    });
    if (this.stallMs > 0) await new Promise((resolve) => setTimeout(resolve, this.stallMs));
    const send = (status: number, body: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if ((bearer ?? url.searchParams.get('apiKey')) !== this.#options.key) {
      send(401, { status: 'ERROR', request_id: 'fake', error: 'Unknown API Key' });
      return;
    }
    const failure = this.failures.shift();
    if (failure !== undefined) {
      send(failure.status, failure.body);
      return;
    }
    const [status, body] = this.#route(url);
    send(status, body);
  }

  #route(url: URL): [number, unknown] {
    const parts = url.pathname.split('/').filter((part) => part !== '');
    const id = `fake-${this.requests.length}`;
    if (url.pathname === '/v1/marketstatus/now') {
      return [
        200,
        {
          afterHours: false,
          earlyHours: false,
          market: 'closed',
          serverTime: '2026-12-01T20:00:00-05:00',
          exchanges: { nasdaq: 'closed', nyse: 'closed', otc: 'closed' },
          currencies: { crypto: 'open', fx: 'open' },
        },
      ];
    }
    if (parts[0] === 'v3' && parts[1] === 'reference' && parts[2] === 'tickers') {
      if (parts[3] !== undefined) {
        const found = this.#tickers.find((t) => t.ticker === parts[3]);
        if (found === undefined)
          return [404, { status: 'NOT_FOUND', request_id: id, message: 'Ticker not found.' }];
        return [
          200,
          {
            request_id: id,
            results: { ...found, market: 'stocks', locale: 'us', active: true },
            status: 'OK',
          },
        ];
      }
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const offset = Number(url.searchParams.get('cursor') ?? 0);
      const page = this.#tickers.slice(offset, offset + limit);
      const body: Record<string, unknown> = {
        results: page.map((t) => ({ ...t, market: 'stocks', locale: 'us', type: 'CS', active: true })),
        status: 'OK',
        request_id: id,
        count: page.length,
      };
      if (offset + limit < this.#tickers.length) {
        body.next_url = `${this.url}/v3/reference/tickers?cursor=${offset + limit}&limit=${limit}`;
      }
      return [200, body];
    }
    if (parts[0] === 'v2' && parts[1] === 'aggs' && parts[2] === 'ticker' && parts[3] !== undefined) {
      const ticker = parts[3];
      if (parts[4] === 'prev') {
        return [200, aggs(ticker, id, Date.UTC(2026, 10, 30, 5), 1, 1)];
      }
      if (parts[4] === 'range' && parts.length === 9) {
        const [, , , , , , span, from, to] = parts as [
          string,
          string,
          string,
          string,
          string,
          string,
          string,
          string,
          string,
        ];
        if (span !== 'day') return [400, { status: 'ERROR', request_id: id, error: 'fake: only day bars' }];
        const start = Date.parse(`${from}T05:00:00Z`);
        const end = Date.parse(`${to}T05:00:00Z`);
        if (Number.isNaN(start) || Number.isNaN(end)) {
          return [400, { status: 'ERROR', request_id: id, error: 'Could not parse the time parameter' }];
        }
        return [200, aggs(ticker, id, start, Math.max(0, Math.round((end - start) / DAY_MS) + 1), 0)];
      }
    }
    if (parts[0] === 'v1' && parts[1] === 'open-close' && parts.length === 4) {
      return [
        200,
        {
          status: 'OK',
          from: parts[3],
          symbol: parts[2],
          open: 100,
          high: 102,
          low: 99,
          close: 101,
          volume: 1_000_000,
        },
      ];
    }
    return [404, { status: 'NOT_FOUND', request_id: id, message: 'not a route of the fake' }];
  }
}

/** `count` daily bars of `ticker` from `start`, prices drifting by a cent a day. */
function aggs(
  ticker: string,
  id: string,
  start: number,
  count: number,
  base: number,
): Record<string, unknown> {
  const results = Array.from({ length: count }, (_, k) => ({
    v: 1_000_000 + k,
    vw: 100.5 + k / 100,
    o: 100 + base + k / 100,
    c: 101 + base + k / 100,
    h: 102 + base + k / 100,
    l: 99 + base + k / 100,
    t: start + k * DAY_MS,
    n: 5_000 + k,
  }));
  return {
    ticker,
    queryCount: count,
    resultsCount: count,
    adjusted: true,
    results,
    status: 'OK',
    request_id: id,
    count,
  };
}
