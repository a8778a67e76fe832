import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, metric, publish, quote, sdkApp, until } from './helpers.js';

let fx: DistributionFixture;

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'conflate',
    lastValues: ['AAA', 'BBB', 'CCC', 'DDD'].map((sym) => quote(sym, 1)),
  });
});
afterAll(() => fx?.close());

/** `count` quotes of `sym`, prices 1, 2, … in vendor order. */
const burst = (sym: string, count: number) =>
  Array.from({ length: count }, (_, i) => quote(sym, 1, Date.now(), i + 1));

describe('per-plan delivery rate', () => {
  it('says the rate on subscribe, delivers the latest value, never reorders or repeats, and counts what it conflated', async () => {
    const user = await fx.user('rated', { realtime: ['CTA_A'], grantRate: 2 });
    const client = await Client.authenticated(fx.port, user.token);
    expect(await client.subscribe('Q.AAA')).toEqual([
      {
        ev: 'status',
        status: 'success',
        message: 'subscribed to: Q.AAA',
        mode: 'realtime',
        maxUpdatesPerSecond: 2,
      },
    ]);
    const before = await metric(fx.port, 'mdhub_edge_conflated_events_total');
    await publish(fx.bus, burst('AAA', 50));
    await until(() => client.events('Q').some((r) => r.message.bp === 50), 'the latest quote');
    const prices = client.events('Q').map((r) => r.message.bp as number);
    expect(prices[0]).toBe(1);
    expect(prices.at(-1)).toBe(50);
    for (let i = 1; i < prices.length; i++) expect(prices[i]).toBeGreaterThan(prices[i - 1] as number);
    expect(prices.length).toBe(2);
    expect((await metric(fx.port, 'mdhub_edge_conflated_events_total')) - before).toBe(48);
  });

  it('takes the stricter of the user rate and the grant rate', async () => {
    const user = await fx.user('both', { realtime: ['CTA_A'], grantRate: 10, userRate: 3 });
    const client = await Client.authenticated(fx.port, user.token);
    expect((await client.subscribe('Q.BBB'))[0]).toMatchObject({ mode: 'realtime', maxUpdatesPerSecond: 3 });
  });

  it('leaves an unrated session every update', async () => {
    const user = await fx.user('free', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(fx.port, user.token);
    expect((await client.subscribe('Q.CCC'))[0]).not.toHaveProperty('maxUpdatesPerSecond');
    await publish(fx.bus, burst('CCC', 20));
    await until(() => client.events('Q').length === 20, 'every quote');
  });

  it('works with an unchanged Polygon SDK app on a rated grant', async () => {
    const user = await fx.user('sdk-rated', { realtime: ['CTA_A'], grantRate: 1 });
    const app = sdkApp(fx.port, user.token, 'Q.DDD');
    try {
      await until(() => app.messages.some((m) => m.status === 'success'), 'subscribed');
      await publish(fx.bus, burst('DDD', 10));
      await until(() => app.messages.some((m) => m.ev === 'Q' && m.bp === 10), 'the latest quote');
      expect(app.messages.filter((m) => m.ev === 'Q').map((m) => m.bp)).toEqual([1, 10]);
    } finally {
      app.close();
    }
  });
});
