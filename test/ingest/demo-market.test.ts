/**
 * The synthetic market a newcomer meets (issue 18 item 1): real tickers on their real tapes, the
 * same on every start, listed at `/v3/reference/tickers` in Polygon's shape, and `Q.AAPL`
 * delivering real time to a user licensed for Nasdaq (Tape C) data — in the embedded default,
 * every role in one process, with the market's default size and seed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { restClient } from '@polygon.io/client-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Hub, ROLES, startHub } from '../../app/hub.js';
import { STARTERS } from '../../app/roles.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { LISTINGS } from '../../ingest/index.js';
import { SyntheticMarket } from '../../ingest/synthetic.js';
import { silentLogger } from '../../platform/logger.js';

let hub: Hub;
let dataDir: string;
let origin: string;
const adminToken = `mdo_${randomBytes(32).toString('base64url')}`;

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(origin + path, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

interface Seen {
  mode?: string;
  quote?: Record<string, unknown>;
}

/** Subscribes `token` to Q.AAPL and resolves with its mode and first quote (rejects after 15 s). */
function watchAapl(token: string): Promise<Seen> {
  const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/stocks`);
  const seen: Seen = {};
  return new Promise<Seen>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no AAPL quote within 15 s: ${JSON.stringify(seen)}`)),
      15_000,
    );
    ws.on('error', reject);
    ws.on('message', (data) => {
      for (const message of JSON.parse(String(data)) as Array<Record<string, unknown>>) {
        if (message.status === 'connected') ws.send(JSON.stringify({ action: 'auth', params: token }));
        if (message.status === 'auth_success')
          ws.send(JSON.stringify({ action: 'subscribe', params: 'Q.AAPL' }));
        if (message.status === 'auth_failed') reject(new Error('auth failed'));
        if (String(message.message).startsWith('subscribed to: Q.AAPL') && typeof message.mode === 'string') {
          seen.mode = message.mode;
        }
        if (message.ev === 'Q' && message.sym === 'AAPL' && seen.quote === undefined) {
          seen.quote = message;
          clearTimeout(timer);
          resolve(seen);
        }
      }
    });
  }).finally(() => ws.close());
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mdhub-demo-market-'));
  const env = parseEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    MDHUB_LOG_LEVEL: 'silent',
    MDHUB_DATA_DIR: dataDir,
    MDHUB_ADMIN_TOKEN: adminToken,
    MDHUB_SYNTHETIC_RATE: '500',
  });
  hub = await startHub({
    env,
    catalog: loadCatalog(undefined, env.MDHUB_DELAY_MS),
    logger: silentLogger,
    roles: [...ROLES],
    starters: STARTERS,
  });
  origin = `http://127.0.0.1:${hub.port}`;
}, 60_000);

afterAll(async () => {
  await hub?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the demo market', () => {
  it('delivers Q.AAPL in real time, on Tape C, to a user licensed for UTP', { timeout: 60_000 }, async () => {
    await admin('POST', '/admin/users', { id: 'demo-ann', name: 'Ann Demo', address: '1 Demo St' });
    await admin('POST', '/admin/users/demo-ann/agreements', { product: 'UTP' });
    await admin('PUT', '/admin/users/demo-ann/entitlements/UTP', { realtime: true });
    const { token } = await admin<{ token: string }>('POST', '/admin/users/demo-ann/tokens', {});
    // The edge learns of a new token through the change feed: retry until it knows this one.
    let seen: Seen | undefined;
    for (let attempt = 0; seen === undefined; attempt++) {
      try {
        seen = await watchAapl(token);
      } catch (error) {
        if (attempt > 20) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(seen.mode).toBe('realtime');
    expect(seen.quote).toMatchObject({ ev: 'Q', sym: 'AAPL', z: 3 });
    const { bp, ap } = seen.quote as { bp: number; ap: number };
    expect(ap).toBeGreaterThan(bp);
    expect(bp).toBeGreaterThan(200);
    expect(bp).toBeLessThan(400);
  });

  it("lists the real tickers on their tapes' exchanges through Polygon's client", async () => {
    const { token } = await admin<{ token: string }>('POST', '/admin/users', {
      id: 'demo-ref',
      name: 'Ref Demo',
      address: '2 Demo St',
    }).then(() => admin<{ token: string }>('POST', '/admin/users/demo-ref/tokens', {}));
    const rest = restClient(token, origin);
    const listing = async (ticker: string) => (await rest.listTickers(ticker)).results?.[0];
    let apple: Awaited<ReturnType<typeof listing>>;
    // The ingest stores its list as it starts: wait for it.
    for (let attempt = 0; apple === undefined && attempt < 50; attempt++) {
      apple = await listing('AAPL');
      if (apple === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(apple).toMatchObject({ ticker: 'AAPL', name: 'Apple Inc.', primary_exchange: 'XNAS', type: 'CS' });
    expect(await listing('JPM')).toMatchObject({ primary_exchange: 'XNYS' });
    expect(await listing('SPY')).toMatchObject({ primary_exchange: 'ARCX', type: 'ETF' });
    expect(await listing('QQQ')).toMatchObject({ primary_exchange: 'XNAS', type: 'ETF' });
    expect((await rest.getTicker('IBM')).results?.name).toBe('International Business Machines Corp');

    // Every listing first (300 symbols by default), in Polygon's order and pages.
    const all = await restClient(token, origin, { pagination: true }).listTickers(
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
      1_000,
    );
    const tickers = all.results?.map((t) => t.ticker) ?? [];
    expect(tickers).toHaveLength(300);
    expect(tickers).toEqual(expect.arrayContaining(LISTINGS.map((l) => l.sym)));
    const search = await rest.listTickers(
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      'microsoft',
    );
    expect(search.results?.map((t) => t.ticker)).toEqual(['MSFT']);
  });
});

describe('the synthetic market', () => {
  it('is the same market on every start, the real listings first, on the tapes they print on', () => {
    const a = new SyntheticMarket({ symbols: 300 });
    const b = new SyntheticMarket({ symbols: 300 });
    expect(a.frame(500, 1)).toBe(b.frame(500, 1));
    expect(a.instruments.map((i) => i.sym)).toEqual(b.instruments.map((i) => i.sym));
    expect(a.instruments.slice(0, LISTINGS.length).map((i) => i.sym)).toEqual(LISTINGS.map((l) => l.sym));
    const tape = (sym: string) => a.instruments.find((i) => i.sym === sym)?.tape;
    expect(['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'QQQ', 'WMT'].map(tape)).toEqual(
      Array(9).fill(3),
    );
    expect(['IBM', 'JPM', 'KO', 'XOM', 'JNJ', 'V', 'PG', 'DIS', 'BA', 'GE'].map(tape)).toEqual(
      Array(10).fill(1),
    );
    expect(['SPY', 'GLD', 'IWM', 'DIA', 'XLF', 'EEM'].map(tape)).toEqual(Array(6).fill(2));
    expect(new Set(a.instruments.map((i) => i.sym)).size).toBe(300);
    // Fewer symbols than the listings: the best-known, still on all three tapes.
    const small = new SyntheticMarket({ symbols: 3 });
    expect(small.instruments.map((i) => [i.sym, i.tape])).toEqual([
      ['AAPL', 3],
      ['JPM', 1],
      ['SPY', 2],
    ]);
  });

  it('trades the busy names more, near their prices, with spreads of a cent or a few basis points', () => {
    const market = new SyntheticMarket({ symbols: 300 });
    const events = Array.from({ length: 30_000 }, () => market.event(1)) as Array<Record<string, unknown>>;
    const on = (sym: string) => events.filter((e) => e.sym === sym);
    const madeUp = market.instruments[LISTINGS.length]!.sym;
    expect(on('AAPL').length).toBeGreaterThan(5 * on(madeUp).length);
    expect(on('AAPL').length).toBeGreaterThan(2 * on('KRE').length);
    for (const sym of ['AAPL', 'F', 'COST']) {
      const listed = LISTINGS.find((l) => l.sym === sym)!.priceCents / 100;
      for (const quote of on(sym).filter((e) => e.ev === 'Q') as Array<{ bp: number; ap: number }>) {
        expect(quote.bp).toBeGreaterThan(listed * 0.9);
        expect(quote.ap).toBeLessThan(listed * 1.1);
        const spread = Math.round((quote.ap - quote.bp) * 100);
        expect(spread).toBeGreaterThanOrEqual(1);
        expect(spread).toBeLessThanOrEqual(Math.max(1, Math.ceil((listed * 100 * 2) / 10_000)) + 1);
      }
    }
  });
});
