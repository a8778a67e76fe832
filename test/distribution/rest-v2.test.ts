/**
 * Polygon's REST v2 at the hub (issue 16 items 1–2), through the SDK an app uses —
 * `restClient(token, hubUrl)` from `@polygon.io/client-js` — for a real-time and a delayed user:
 * last trade and NBBO, ticker snapshots (one, a watchlist, movers) and today's aggregates from the
 * hub's own bars. Every value of a delayed answer is as of now − delay, a bar only once its end is
 * a delay old; every answered ticker is one query in the ledger, real time only for the licensed.
 *
 * The edge runs on a clock of its own: a trading day's noon (New York) at the file's start, so the
 * day, its minutes and the delay's cut are the same on every run, whatever the calendar says.
 */
import { GetStocksAggregatesTimespanEnum, restClient } from '@polygon.io/client-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BarStore } from '../../ingest/bar-store.js';
import { BarBuilder } from '../../ingest/bars.js';
import { type Trade, tradingDayOf } from '../../ingest/index.js';
import { silentLogger } from '../../platform/logger.js';
import { type UsageEvent, writeLedger } from '../../usage/index.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import {
  closeAccount,
  publish,
  quote,
  readUsage,
  setLastValues,
  type TestUser,
  trade,
  until,
} from './helpers.js';

/** Long enough that the file's run never moves the delayed cut past the noon minute. */
const DELAY_MS = 60_000;
const MIN = 60_000;
const UTP = 3;

const realNow = Date.now();
/** Noon of the trading day after today (New York): a mid-day minute boundary. */
const NOON = tradingDayOf(realNow + 86_400_000).start + 12 * 3_600_000;
/** The edge's clock: 5 s past noon at the file's start, running. */
const offset = NOON + 5_000 - realNow;
const clock = () => Date.now() + offset;

let fx: DistributionFixture;
let base: string;
let pro: TestUser;
let visitor: TestUser;

/** NVDA's day, trade by trade: yesterday's close, then 11:58 and 11:59 today. */
const YESTERDAY_CLOSE = trade('NVDA', UTP, NOON - 86_400_000, 100);
const T1 = { ...trade('NVDA', UTP, NOON - 2 * MIN + 10_000, 101), s: 100 };
const T2 = { ...trade('NVDA', UTP, NOON - 2 * MIN + 40_000, 103), s: 100 };
const T3 = { ...trade('NVDA', UTP, NOON - MIN + 30_000, 104), s: 300 };

async function storeBars(trades: readonly Trade[], now: number): Promise<void> {
  const builder = new BarBuilder({
    sink: { bar: (_bar, _tape, stored) => store.bar(_bar.ev, _bar.sym, stored) },
  });
  const store: BarStore = new BarStore({ kv: fx.bus.kv, builder, logger: silentLogger });
  for (const t of trades) {
    const bars = builder.symbol(t.sym, t.z);
    builder.trade(bars, t.z, t.t, t.p, t.s, t.c);
    builder.advance(t.t);
  }
  builder.advance(now);
  await store.flush();
}

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'restv2',
    delayMs: DELAY_MS,
    now: clock,
    options: { delayIntervalMs: 50 },
  });
  base = `http://127.0.0.1:${fx.port}`;
  pro = await fx.user('v2-pro', { realtime: ['UTP'], deviceId: 'phone-1' });
  visitor = await fx.user('v2-visitor');
  await storeBars([YESTERDAY_CLOSE, T1, T2, T3], NOON + 1_000);
  // The delay line gets the ticks; the last values hold the newest.
  const oldQuote = quote('NVDA', UTP, NOON - 2 * MIN + 40_000, 102.9);
  const newQuote = quote('NVDA', UTP, NOON - MIN + 30_000, 103.9);
  await publish(fx.bus, [T2, oldQuote, T3, newQuote]);
  await setLastValues(fx.bus, [T3, newQuote]);
  // Watchlist tickers: each with a trade, a quote and a stored day.
  const list = WATCHLIST.map((sym, k) => ({ ...trade(sym, UTP, NOON - 2 * MIN + 1_000, 10 + k), s: 20_000 }));
  const yesterday = WATCHLIST.map((sym) => trade(sym, UTP, NOON - 86_400_000, 10));
  await storeBars([...yesterday, ...list], NOON + 1_000);
  await publish(fx.bus, list);
  await setLastValues(fx.bus, list);
  await until(async () => {
    const res = await fetch(`${base}/v2/last/trade/NVDA?apiKey=${visitor.token}`);
    return res.status === 200;
  }, 'the delay line to release the 11:58 trade');
  // Readings so far are not part of what the tests count.
  await readUsage(fx.bus, 'v2-test');
}, 30_000);

afterAll(() => fx?.close());

const WATCHLIST = Array.from({ length: 19 }, (_, k) => `W${String.fromCharCode(65 + k)}X`);

const ns = (ms: number) => ms * 1_000_000;

/**
 * The query events of these requests, read until `expected` have arrived: usage leaves the edge
 * through its spool, so a request's events reach the bus a moment after its answer.
 */
async function queriesFor(ids: Set<string | null | undefined>, expected: number): Promise<UsageEvent[]> {
  const events: UsageEvent[] = [];
  await until(async () => {
    events.push(
      ...(await readUsage(fx.bus, 'v2-test')).filter((e) => e.kind === 'query' && ids.has(e.requestId)),
    );
    return events.length >= expected;
  }, `${expected} query events`);
  return events;
}

describe('last trade and NBBO (v2)', () => {
  it('gives the licensed user the live values, in nanoseconds', async () => {
    const rest = restClient(pro.token, base);
    const last = await rest.getLastStocksTrade('NVDA');
    expect(last.status).toBe('OK');
    expect(last.request_id).toBeTruthy();
    expect(last.results).toMatchObject({ T: 'NVDA', p: 104, s: 300, t: ns(T3.t), y: ns(T3.t) });
    expect((last as { mode?: string }).mode).toBe('realtime');
    const nbbo = await rest.getLastStocksQuote('NVDA');
    expect(nbbo.results).toMatchObject({ T: 'NVDA', p: 103.9, P: expect.closeTo(103.91, 6), t: ns(T3.t) });
  });

  it('gives the delayed user the values as of now − delay, and says so', async () => {
    const rest = restClient(visitor.token, base);
    const last = await rest.getLastStocksTrade('NVDA');
    expect(last.results).toMatchObject({ T: 'NVDA', p: 103 });
    expect(last.results!.t! / 1e6).toBeLessThanOrEqual(clock() - DELAY_MS);
    expect(last as unknown as Record<string, unknown>).toMatchObject({ mode: 'delayed', reason: 'no_grant' });
    const nbbo = await rest.getLastStocksQuote('NVDA');
    expect(nbbo.results).toMatchObject({ p: 102.9 });
    expect(nbbo.results!.t! / 1e6).toBeLessThanOrEqual(clock() - DELAY_MS);
  });
});

describe('ticker snapshots', () => {
  it('shows the licensed user the running day, the last closed minute and the change on the previous close', async () => {
    const rest = restClient(pro.token, base);
    const snap = await rest.getStocksSnapshotTicker('NVDA');
    expect(snap.status).toBe('OK');
    expect(snap.ticker).toMatchObject({
      ticker: 'NVDA',
      day: { o: 101, h: 104, l: 101, c: 104, v: 500 },
      min: { t: NOON - MIN, o: 104, c: 104, v: 300, av: 500 },
      prevDay: { c: 100 },
      lastTrade: { p: 104, t: ns(T3.t) },
      lastQuote: { p: 103.9, P: expect.closeTo(103.91, 6) },
      todaysChange: 4,
      todaysChangePerc: 4,
    });
    expect(snap.ticker!.updated).toBe(ns(NOON));
    expect((snap.ticker as { mode?: string }).mode).toBe('realtime');
  });

  it('shows the delayed user the day as of now − delay: the 11:59 minute is not yet a delay old', async () => {
    const rest = restClient(visitor.token, base);
    const snap = await rest.getStocksSnapshotTicker('NVDA');
    const cut = clock() - DELAY_MS;
    expect(snap.ticker).toMatchObject({
      day: { o: 101, h: 103, l: 101, c: 103, v: 200 },
      min: { t: NOON - 2 * MIN, o: 101, h: 103, c: 103, v: 200 },
      prevDay: { c: 100 },
      lastTrade: { p: 103 },
      lastQuote: { p: 102.9 },
      todaysChange: 3,
      mode: 'delayed',
    });
    const ticker = snap.ticker as { min: { t: number }; updated: number; lastTrade: { t: number } };
    expect(ticker.min.t + MIN).toBeLessThanOrEqual(cut);
    expect(ticker.lastTrade.t / 1e6).toBeLessThanOrEqual(cut);
    expect(ticker.updated / 1e6).toBeLessThanOrEqual(cut);
    expect((snap as { mode?: string }).mode).toBe('delayed');
  });

  it('answers a watchlist of 20 tickers, one query per ticker in the ledger', async () => {
    await readUsage(fx.bus, 'v2-test');
    const rest = restClient(pro.token, base);
    const list = await rest.getStocksSnapshotTickers(['NVDA', ...WATCHLIST]);
    expect(list.status).toBe('OK');
    expect(list.tickers).toHaveLength(20);
    expect(list.tickers!.map((t) => t.ticker).sort()).toEqual(['NVDA', ...WATCHLIST].sort());
    const delayed = await restClient(visitor.token, base).getStocksSnapshotTickers(['NVDA', ...WATCHLIST]);
    expect(delayed.tickers).toHaveLength(20);

    // The usage of these two requests alone (metering may flush earlier tests' queries meanwhile).
    const asked = new Set([requestId(list), requestId(delayed)]);
    const events = await queriesFor(asked, 40);
    expect(events.filter((e) => e.user === 'v2-pro')).toHaveLength(20);
    expect(events.filter((e) => e.user === 'v2-visitor')).toHaveLength(20);
    expect(new Set(events.map((e) => (e.kind === 'query' ? e.symbol : '')))).toEqual(
      new Set(['NVDA', ...WATCHLIST]),
    );
    const counted = await ledger(events);
    expect(counted['v2-pro']).toEqual({ queries: 20, realtime: 20 });
    // Delayed answers are queries, never fee-liable real-time displays.
    expect(counted['v2-visitor']).toEqual({ queries: 20, realtime: 0 });
  });

  it('ranks gainers among tickers that traded 10 000 shares, each one metered', async () => {
    await readUsage(fx.bus, 'v2-test');
    const rest = restClient(pro.token, base);
    const gainers = await rest.getStocksSnapshotDirection('gainers' as never);
    expect(gainers.status).toBe('OK');
    // NVDA's 500 shares do not qualify; the watchlist's 20 000 each do (no previous day: no change).
    const names = (gainers.tickers ?? []).map((t) => t.ticker);
    expect(names).not.toContain('NVDA');
    const events = await queriesFor(new Set([requestId(gainers)]), names.length);
    // W(k) went from 10 to 10 + k: the biggest gain first.
    expect(names[0]).toBe(WATCHLIST.at(-1));
    expect(gainers.tickers![0]!.todaysChangePerc).toBe(180);
    expect(events).toHaveLength(names.length);
  });
});

describe("today's aggregates", () => {
  const day = () => tradingDayOf(NOON).date;

  it('gives the licensed user every closed minute of today', async () => {
    const rest = restClient(pro.token, base);
    const bars = await rest.getStocksAggregates(
      'NVDA',
      1,
      GetStocksAggregatesTimespanEnum.Minute,
      day(),
      day(),
    );
    expect(bars.status).toBe('OK');
    expect(bars.results).toEqual([
      expect.objectContaining({ t: NOON - 2 * MIN, o: 101, h: 103, l: 101, c: 103, v: 200, n: 2 }),
      expect.objectContaining({ t: NOON - MIN, o: 104, h: 104, l: 104, c: 104, v: 300, n: 1 }),
    ]);
    const seconds = await rest.getStocksAggregates(
      'NVDA',
      1,
      GetStocksAggregatesTimespanEnum.Second,
      day(),
      day(),
    );
    expect(seconds.results!.map((b) => b.t)).toEqual([T1.t, T2.t, T3.t]);
  });

  it('gives the delayed user only bars whose end is a delay old', async () => {
    const rest = restClient(visitor.token, base);
    const bars = await rest.getStocksAggregates(
      'NVDA',
      1,
      GetStocksAggregatesTimespanEnum.Minute,
      day(),
      day(),
    );
    const cut = clock() - DELAY_MS;
    expect(bars.results!.map((b) => b.t)).toEqual([NOON - 2 * MIN]);
    for (const bar of bars.results!) expect(bar.t! + MIN).toBeLessThanOrEqual(cut);
    expect((bars as { mode?: string }).mode).toBe('delayed');
    const seconds = await rest.getStocksAggregates(
      'NVDA',
      1,
      GetStocksAggregatesTimespanEnum.Second,
      day(),
      day(),
    );
    expect(seconds.results!.map((b) => b.t)).toEqual([T1.t, T2.t]);
    const dayBar = await rest.getStocksAggregates(
      'NVDA',
      1,
      GetStocksAggregatesTimespanEnum.Day,
      day(),
      day(),
    );
    expect(dayBar.results).toEqual([expect.objectContaining({ o: 101, h: 103, c: 103, v: 200 })]);
  });

  it('combines minutes into hours and refuses weeks reaching today', async () => {
    const rest = restClient(pro.token, base);
    const hours = await rest.getStocksAggregates(
      'NVDA',
      1,
      GetStocksAggregatesTimespanEnum.Hour,
      day(),
      day(),
    );
    expect(hours.results).toEqual([
      expect.objectContaining({ t: NOON - 3_600_000, o: 101, h: 104, l: 101, c: 104, v: 500 }),
    ]);
    const week = await fetch(
      `${base}/v2/aggs/ticker/NVDA/range/1/week/${day()}/${day()}?apiKey=${pro.token}`,
    );
    expect(week.status).toBe(400);
  });
});

describe('bad input', () => {
  it('answers 400 naming what is wrong, and meters nothing', async () => {
    await readUsage(fx.bus, 'v2-test');
    const day = tradingDayOf(NOON).date;
    const key = `apiKey=${pro.token}`;
    const snap = '/v2/snapshot/locale/us/markets/stocks/tickers';
    const cases: Array<[string, string]> = [
      [`${snap}?tickers=NVDA,bad%20one&${key}`, 'invalid_symbol'],
      [
        `${snap}?tickers=${Array.from({ length: 1_001 }, (_, k) => `S${k}`).join(',')}&${key}`,
        'too_many_tickers',
      ],
      [`/v2/last/trade/${'A'.repeat(200)}?${key}`, 'invalid_symbol'],
      [`/v2/aggs/ticker/NVDA/range/0/minute/${day}/${day}?${key}`, ''],
      [`/v2/aggs/ticker/NVDA/range/1/fortnight/${day}/${day}?${key}`, ''],
      [`/v2/aggs/ticker/NVDA/range/1/minute/yesterday/${day}?${key}`, ''],
      [`/v2/aggs/ticker/NVDA/range/1/minute/${day}/${day}?limit=0&${key}`, 'invalid_limit'],
      [`/v2/aggs/ticker/NVDA/range/1/minute/${day}/${day}?sort=sideways&${key}`, 'invalid_sort'],
    ];
    const ids = new Set<string | null>();
    for (const [path, code] of cases) {
      const res = await fetch(`${base}${path}`);
      ids.add(res.headers.get('x-request-id'));
      expect(res.status, path.slice(0, 80)).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.message.length).toBeGreaterThan(0);
      if (code !== '') expect(body.error.code).toBe(code);
    }
    const events = (await readUsage(fx.bus, 'v2-test')).filter(
      (e) => e.kind === 'query' && ids.has(e.requestId),
    );
    expect(events).toEqual([]);
  });
});

describe('refusals', () => {
  it('answers 403 with the reason for a product the user may not see, in a list names it', async () => {
    const closed = await fx.user('v2-closed', { realtime: ['UTP'] });
    await closeAccount(fx.hub, closed.id);
    const url = `${base}/v2/snapshot/locale/us/markets/stocks/tickers/NVDA?apiKey=${closed.token}`;
    await until(async () => (await fetch(url)).status === 403, 'the closure to reach the edge');
    const body = (await (await fetch(url)).json()) as {
      error: { code: string; details: { reasons: string[] } };
    };
    expect(body.error.code).toBe('insufficient_entitlement');
    expect(body.error.details.reasons).toContain('closed');
    const rest = restClient(closed.token, base);
    await expect(rest.getLastStocksTrade('NVDA')).rejects.toThrow();
    const aggs = await fetch(
      `${base}/v2/aggs/ticker/NVDA/range/1/minute/${tradingDayOf(NOON).date}/${tradingDayOf(NOON).date}?apiKey=${closed.token}`,
    );
    expect(aggs.status).toBe(403);
  });
});

/** The usage events through the ledger; per user, the queries and the real-time ones counted. */
async function ledger(
  events: readonly UsageEvent[],
): Promise<Record<string, { queries: number; realtime: number }>> {
  await fx.hub.ctx.db.transaction((tx) => writeLedger(tx, events));
  const { rows } = await fx.hub.ctx.db.query<{ user_id: string; q: string; r: string }>(
    `select user_id, sum(queries)::int8 as q, sum(realtime_queries)::int8 as r from usage_daily
      group by user_id`,
  );
  return Object.fromEntries(
    rows.map((row) => [row.user_id, { queries: Number(row.q), realtime: Number(row.r) }]),
  );
}

/** Polygon's `request_id`, which the SDK's types leave out of some answers. */
const requestId = (answer: object) => (answer as { request_id?: string }).request_id;
