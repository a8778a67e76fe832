import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, publish, quote, sdkApp, type TestUser, until } from './helpers.js';

let fx: DistributionFixture;
let licensed: TestUser;

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'protocol',
    options: { authTimeoutMs: 300 },
    lastValues: [quote('AAPL', 3)],
  });
  licensed = await fx.user('polly', { realtime: ['CTA_A', 'CTA_B', 'UTP'] });
});

afterAll(() => fx?.close());

describe('an app built on @polygon.io/client-js', () => {
  it('authenticates, subscribes and receives Polygon-shaped quotes, unchanged', async () => {
    const socket = sdkApp(fx.port, licensed.token, 'Q.AAPL');
    const { messages } = socket;
    try {
      await until(() => messages.some((m) => m.status === 'success'), 'subscription status');
      expect(messages.slice(0, 3)).toEqual([
        { ev: 'status', status: 'connected', message: 'Connected Successfully' },
        { ev: 'status', status: 'auth_success', message: 'authenticated' },
        { ev: 'status', status: 'success', message: 'subscribed to: Q.AAPL', mode: 'realtime' },
      ]);
      const sent = quote('AAPL', 3);
      await publish(fx.bus, [sent]);
      await until(() => messages.some((m) => m.ev === 'Q'), 'a quote');
      const received = messages.find((m) => m.ev === 'Q');
      expect(received).toEqual({
        ev: 'Q',
        sym: 'AAPL',
        bx: sent.bx,
        bp: sent.bp,
        bs: sent.bs,
        ax: sent.ax,
        ap: sent.ap,
        as: sent.as,
        t: sent.t,
        q: sent.q,
        z: 3,
      });
    } finally {
      socket.close();
    }
  });
});

describe('/stocks protocol', () => {
  it('says connected on open and auth_failed (then closes) for a bad token', async () => {
    const client = await Client.connect(fx.port);
    client.send({ action: 'auth', params: 'mdu_not-a-real-token' });
    expect(await client.waitFor((m) => m.status === 'auth_failed')).toMatchObject({
      ev: 'status',
      message: 'authentication failed',
    });
    expect((await client.waitClosed()).code).toBe(1008);
  });

  it('says auth_timeout and closes when no auth arrives in time', async () => {
    const client = await Client.connect(fx.port);
    expect(await client.waitFor((m) => m.status === 'auth_timeout')).toMatchObject({ ev: 'status' });
    expect((await client.waitClosed()).code).toBe(1008);
  });

  it('answers bad JSON, unknown actions and subscribing before auth with errors, keeping the socket', async () => {
    const client = await Client.connect(fx.port);
    client.send('{not json');
    const bad = await client.waitFor((m) => m.status === 'error');
    expect(bad).toMatchObject({ code: 400 });
    expect(String(bad.message)).toContain('not valid JSON');
    client.send({ action: 'dance', params: 'x' });
    await until(() => client.statuses().filter((m) => m.status === 'error').length === 2, 'second error');
    expect(client.statuses().at(-1)).toMatchObject({ code: 400, status: 'error' });
    expect(String(client.statuses().at(-1)?.message)).toContain('unknown action');
    client.send({ action: 'subscribe', params: 'Q.AAPL' });
    await until(() => client.statuses().filter((m) => m.status === 'error').length === 3, 'third error');
    expect(client.statuses().at(-1)).toMatchObject({ code: 401 });
    client.send({ action: 'auth', params: licensed.token });
    await client.waitFor((m) => m.status === 'auth_success');
    expect(client.closed).toBeUndefined();
    client.close();
  });

  it('answers an invalid channel with an error and subscribes the valid ones', async () => {
    const client = await Client.authenticated(fx.port, licensed.token);
    const statuses = await client.subscribe('Q.AAPL,quote-of-the-day,T.*');
    expect(statuses[0]).toMatchObject({
      status: 'success',
      message: 'subscribed to: Q.AAPL',
      mode: 'realtime',
    });
    expect(statuses[1]).toMatchObject({ status: 'error', code: 400, params: 'quote-of-the-day' });
    expect(statuses[2]).toMatchObject({ status: 'success', message: 'subscribed to: T.*', mode: 'realtime' });
    client.send({ action: 'unsubscribe', params: 'Q.AAPL' });
    await client.waitFor((m) => m.message === 'unsubscribed to: Q.AAPL');
    client.send({ action: 'auth', params: licensed.token });
    await client.waitFor((m) => m.code === 403);
    client.close();
  });

  it('closes with 1009 on a message larger than the limit', async () => {
    const client = await Client.connect(fx.port);
    client.send({ action: 'subscribe', params: `Q.${'A'.repeat(70_000)}` });
    expect((await client.waitClosed()).code).toBe(1009);
  });

  it('answers a flood of messages with 429 errors, then closes an abusive client', async () => {
    const client = await Client.authenticated(fx.port, licensed.token);
    for (let n = 0; n < 120; n++) client.send({ action: 'unsubscribe', params: 'Q.ZZZZ' });
    await client.waitFor((m) => m.code === 429);
    expect((await client.waitClosed()).code).toBe(1008);
  });
});

describe('embedded hub (in-process bus, PGlite)', () => {
  it('serves /stocks with nothing installed', async () => {
    const embedded = await distributionFixture({
      name: 'embedded',
      embedded: true,
      lastValues: [quote('AAPL', 3)],
    });
    try {
      const user = await embedded.user('embedded-user', { realtime: ['UTP'] });
      const client = await Client.authenticated(embedded.port, user.token);
      expect((await client.subscribe('Q.AAPL'))[0]).toMatchObject({ mode: 'realtime' });
      const sent = quote('AAPL', 3);
      await publish(embedded.bus, [sent]);
      expect(await client.waitFor((m) => m.ev === 'Q')).toMatchObject({ sym: 'AAPL', q: sent.q });
      client.close();
      await client.waitClosed();
    } finally {
      await embedded.close();
    }
  });
});
