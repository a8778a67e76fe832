import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

const DELAY_MS = 600;
let fx: DistributionFixture;
let base: string;
let pro: TestUser;
let visitor: TestUser;
/** Snapshots the closed account got while its closure was still on its way to the edge. */
let answeredBeforeClosing = 0;

beforeAll(async () => {
  fx = await distributionFixture({ name: 'rest', delayMs: DELAY_MS, options: { delayIntervalMs: 50 } });
  base = `http://127.0.0.1:${fx.port}`;
  pro = await fx.user('rest-pro', { realtime: ['UTP'], deviceId: 'phone-1' });
  visitor = await fx.user('rest-visitor');
});

afterAll(() => fx?.close());

describe('REST last quote and trade', () => {
  it('gives a licensed user the live value, with the token as Bearer or ?apiKey=', async () => {
    const live = quote('NVDA', 3, Date.now(), 420);
    const lastTrade = trade('NVDA', 3, Date.now(), 421);
    await setLastValues(fx.bus, [live, lastTrade]);
    const res = await fetch(`${base}/v1/last/quote/NVDA`, {
      headers: { authorization: `Bearer ${pro.token}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      status: 'OK',
      mode: 'realtime',
      results: { ev: 'Q', sym: 'NVDA', bp: 420, t: live.t },
    });
    const tradeRes = await fetch(`${base}/v1/last/trade/NVDA?apiKey=${pro.token}`);
    expect(await tradeRes.json()).toMatchObject({
      status: 'OK',
      mode: 'realtime',
      results: { ev: 'T', p: 421 },
    });
  });

  it('gives a delayed user the value as of now − delay, never the live one', async () => {
    const old = quote('AMD', 3, Date.now(), 150);
    await publish(fx.bus, [old]);
    await setLastValues(fx.bus, [old]);
    await sleep(50);
    const fresh = quote('AMD', 3, Date.now(), 160);
    await publish(fx.bus, [fresh]);
    await setLastValues(fx.bus, [fresh]);
    const early = await fetch(`${base}/v1/last/quote/AMD?apiKey=${visitor.token}`);
    expect(early.status).toBe(404);
    expect(((await early.json()) as { error: { code: string } }).error.code).toBe('no_delayed_value');
    await until(
      async () => (await fetch(`${base}/v1/last/quote/AMD?apiKey=${visitor.token}`)).status === 200,
      'the old quote to be released',
    );
    const body = (await (await fetch(`${base}/v1/last/quote/AMD?apiKey=${visitor.token}`)).json()) as {
      mode: string;
      reason: string;
      results: { t: number; bp: number };
    };
    expect(body.mode).toBe('delayed');
    expect(body.reason).toBe('no_grant');
    expect(body.results.t).toBeLessThanOrEqual(Date.now() - DELAY_MS);
    expect([150, 160]).toContain(body.results.bp);
    await sleep(DELAY_MS);
    const later = (await (await fetch(`${base}/v1/last/quote/AMD?apiKey=${visitor.token}`)).json()) as {
      results: { bp: number };
    };
    expect(later.results.bp).toBe(160);
  });

  it('answers 401 without a valid token, 400 for a malformed symbol and 404 for an unknown one', async () => {
    const none = await fetch(`${base}/v1/last/quote/NVDA`);
    expect(none.status).toBe(401);
    const body = (await none.json()) as { error: { code: string; message: string; requestId: string } };
    expect(body.error.code).toBe('unauthorized');
    expect(body.error.requestId).toBeTruthy();
    expect((await fetch(`${base}/v1/last/quote/NVDA?apiKey=mdu_nope`)).status).toBe(401);
    expect((await fetch(`${base}/v1/last/quote/nv%20da?apiKey=${pro.token}`)).status).toBe(400);
    const unknown = await fetch(`${base}/v1/last/trade/ZZZZ?apiKey=${pro.token}`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('unknown_symbol');
  });

  it('refuses a closed account with 403 and the reasons', async () => {
    const closed = await fx.user('rest-closed', { realtime: ['UTP'] });
    await closeAccount(fx.hub, closed.id);
    await until(async () => {
      const res = await fetch(`${base}/v1/last/quote/NVDA?apiKey=${closed.token}`);
      if (res.status === 200) answeredBeforeClosing++;
      return res.status === 403;
    }, 'refusal');
    const res = await fetch(`${base}/v1/last/quote/NVDA?apiKey=${closed.token}`);
    expect(await res.json()).toMatchObject({
      error: {
        code: 'insufficient_entitlement',
        details: { product: 'UTP', reasons: expect.arrayContaining(['closed']) },
      },
    });
  });

  it('meters every answered snapshot as a query event, and only those', async () => {
    const events = (await readUsage(fx.bus, 'rest-test')).filter((event) => event.kind === 'query');
    const byUser = (user: string) => events.filter((event) => event.user === user);
    expect(byUser('rest-pro').length).toBe(2);
    expect(byUser('rest-pro')[0]).toMatchObject({
      kind: 'query',
      product: 'UTP',
      symbol: 'NVDA',
      type: 'Q',
      mode: 'realtime',
      device: 'phone-1',
    });
    expect(byUser('rest-visitor').every((event) => event.kind === 'query' && event.mode === 'delayed')).toBe(
      true,
    );
    expect(byUser('rest-visitor').length).toBeGreaterThanOrEqual(2);
    expect(byUser('rest-closed').length).toBe(answeredBeforeClosing);
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
  });
});
