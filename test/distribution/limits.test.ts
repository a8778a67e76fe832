import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, metric, publish, quote, type TestUser } from './helpers.js';

let fx: DistributionFixture;
let pro: TestUser;

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'limits',
    options: {
      maxSymbols: 3,
      bufferHighBytes: 64 * 1024,
      conflateForMs: 300,
    },
    lastValues: [quote('AAA', 1), quote('BBB', 2)],
  });
  pro = await fx.user('limits-pro', { realtime: ['CTA_A', 'CTA_B', 'UTP'] });
});

afterAll(() => fx?.close());

describe('limits', () => {
  it('refuses symbols beyond the per-connection limit with 405, counting T.X and Q.X once and * as one', async () => {
    const client = await Client.authenticated(fx.port, pro.token);
    const statuses = await client.subscribe('Q.AAA,T.AAA,Q.BBB,Q.*,Q.CCC,T.BBB');
    expect(statuses.map((s) => s.code ?? s.status)).toEqual([
      'success',
      'success',
      'success',
      'success',
      405,
      'success',
    ]);
    expect(statuses[4]).toMatchObject({ status: 'error', params: 'Q.CCC' });
    expect(String(statuses[4]?.message)).toContain('3 symbols');
    client.close();
  });

  it('a user over the session limit gets 406 and delayed data, and real time once another session closes', async () => {
    const user = await fx.user('limits-single', { realtime: ['CTA_A'], sessionLimit: 1 });
    const first = await Client.authenticated(fx.port, user.token);
    expect((await first.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    const second = await Client.authenticated(fx.port, user.token);
    const limited = await second.waitFor((m) => m.code === 406);
    expect(String(limited.message)).toContain('1 session open');
    expect((await second.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed', reason: 'session_limit' });
    first.close();
    expect(await second.waitFor((m) => m.status === 'mode', 2_000)).toMatchObject({
      params: 'Q.AAA',
      mode: 'realtime',
    });
    second.close();
  });

  it('closes a client that stops reading with 407 while a normal client keeps receiving', async () => {
    const slow = await Client.authenticated(fx.port, pro.token);
    const normal = await Client.authenticated(fx.port, pro.token);
    await slow.subscribe('Q.*');
    await normal.subscribe('Q.*');
    (slow.ws as unknown as { _socket: Socket })._socket.pause();
    const closesBefore = await metric(fx.port, 'mdhub_edge_slow_consumer_closes_total');
    const symbols = Array.from({ length: 400 }, (_, n) => `S${n}`);
    const deadline = Date.now() + 20_000;
    while ((await metric(fx.port, 'mdhub_edge_slow_consumer_closes_total')) === closesBefore) {
      if (Date.now() > deadline) throw new Error('the slow client was never closed');
      await publish(
        fx.bus,
        symbols.map((sym) => quote(sym, 1)),
      );
      await sleep(5);
    }
    const last = quote('LAST', 2);
    await publish(fx.bus, [last]);
    await normal.waitFor((m) => m.ev === 'Q' && m.q === last.q);
    expect(normal.closed).toBeUndefined();
    (slow.ws as unknown as { _socket: Socket })._socket.resume();
    const error = await slow.waitFor((m) => m.code === 407, 10_000);
    expect(String(error.message)).toContain('did not read data fast enough');
    expect((await slow.waitClosed()).code).toBe(1008);
    normal.close();
  });
});

describe('authentication attempts', () => {
  let strict: DistributionFixture | undefined;

  afterAll(() => strict?.close());

  it('are rate-limited per address and token prefix after repeated failures, on the socket and on REST', async () => {
    strict = await distributionFixture({ name: 'auth', options: { authBurst: 3, authRate: 0.01 } });
    for (let n = 0; n < 3; n++) {
      const client = await Client.connect(strict.port);
      client.send({ action: 'auth', params: 'mdu_wrong' });
      expect(await client.waitFor((m) => m.status === 'auth_failed')).toMatchObject({
        message: 'authentication failed',
      });
    }
    const blocked = await Client.connect(strict.port);
    blocked.send({ action: 'auth', params: 'mdu_wrong_again' });
    const refused = await blocked.waitFor((m) => m.status === 'auth_failed');
    expect(String(refused.message)).toContain('Too many failed authentication attempts');
    expect((await blocked.waitClosed()).code).toBe(1008);
    const rest = await fetch(`http://127.0.0.1:${strict.port}/v1/last/quote/AAA?apiKey=mdu_wrong_too`);
    expect(rest.status).toBe(429);
    expect(((await rest.json()) as { error: { code: string } }).error.code).toBe('too_many_attempts');
  });
});
