/**
 * What one client can make an edge do: work per subscribe, memory for replies it never reads,
 * failed authentications behind a load balancer, unauthenticated sockets, a token revoked while
 * its session authenticates. The edge runs on a Redis of its own, so INFO commandstats counts
 * only its lookups.
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken, revokeToken } from '../../entitlements/index.js';
import type { Bus, SessionSlots } from '../../platform/bus/index.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import {
  Client,
  makeUser,
  metric,
  publish,
  quote,
  run,
  type TestUser,
  until,
  waitForToken,
} from './helpers.js';

const BUFFER_MAX = 512 * 1024;
let redis: PrivateRedis;
let fx: DistributionFixture;
let pro: TestUser;
let delayedOnly: TestUser;

/** While set, the edge's session-slot calls wait for it: the window in which auth is in flight. */
let hold: Promise<void> | undefined;
let heldCalls = 0;

function withHeldSlots(bus: Bus): Bus {
  const slots = bus.sessions;
  // Only `acquire` waits; every other slot call (count, held, release…) goes straight through.
  const sessions = new Proxy(slots, {
    get(target, property) {
      if (property === 'acquire')
        return async (...args: Parameters<SessionSlots['acquire']>) => {
          if (hold !== undefined) {
            heldCalls++;
            await hold;
          }
          return target.acquire(...args);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return new Proxy(bus, {
    get(target, property) {
      if (property === 'sessions') return sessions;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

beforeAll(async () => {
  redis = await PrivateRedis.start();
  fx = await distributionFixture({
    name: 'abuse',
    env: { REDIS_URL: redis.url },
    bus: withHeldSlots,
    options: {
      messageRate: 100_000,
      messageBurst: 100_000,
      bufferHighBytes: 64 * 1024,
      bufferMaxBytes: BUFFER_MAX,
      trustedProxies: ['127.0.0.1', '::1'],
      preauthSocketsPerAddress: 3,
      authBurst: 20,
      authRate: 0.01,
    },
    lastValues: [quote('VIC', 1)],
  });
  pro = await fx.user('abuse-pro', { realtime: ['CTA_A', 'CTA_B', 'UTP'] });
  delayedOnly = await fx.user('abuse-free');
});

afterAll(async () => {
  await fx?.close();
  await redis?.stop();
});

/** Last-value lookups the edge has made (HGET and HMGET calls on its Redis). */
async function lookups(): Promise<number> {
  const calls = await redis.commandCalls();
  return (calls.get('hget') ?? 0) + (calls.get('hmget') ?? 0);
}

const channels = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, n) => `Q.${prefix}${n}`).join(',');

/** The statuses a client got after `auth_success`. */
function replies(client: Client): Array<Record<string, unknown>> {
  return client.statuses().filter((s) => s.status !== 'connected' && s.status !== 'auth_success');
}

describe('subscribe work is bounded', () => {
  it('answers a subscribe of 8 000 unknown symbols with one status, without a lookup, while others keep receiving', async () => {
    const victim = await Client.authenticated(fx.port, pro.token);
    expect((await victim.subscribe('Q.VIC'))[0]).toMatchObject({ mode: 'realtime' });
    const attacker = await Client.authenticated(fx.port, delayedOnly.token);
    const before = await lookups();
    attacker.send({ action: 'subscribe', params: channels('U', 8_000) });
    const answer = await attacker.waitFor((m) => m.status === 'error');
    expect(answer).toMatchObject({ code: 400, count: 8_000 });
    expect(String(answer.message)).toContain('more than the 1000 one message may list');
    expect(await lookups()).toBe(before);
    await attacker.subscribe('Q.VIC');
    expect(replies(attacker)).toHaveLength(2);
    const sent = quote('VIC', 1);
    await publish(fx.bus, [sent]);
    expect(await victim.waitFor((m) => m.ev === 'Q' && m.q === sent.q)).toMatchObject({ sym: 'VIC' });
    victim.close();
    attacker.close();
  });

  it('refuses every channel beyond the symbol limit in one 405 and looks the rest up in one round trip', async () => {
    const client = await Client.authenticated(fx.port, delayedOnly.token);
    let before = await lookups();
    const first = await client.subscribe(channels('A', 600));
    expect(first.every((s) => s.status === 'success')).toBe(true);
    // One HMGET per type, pipelined: not one read per symbol.
    expect((await lookups()) - before).toBeLessThanOrEqual(2);
    before = await lookups();
    client.send({ action: 'subscribe', params: channels('B', 600) });
    const refused = await client.waitFor((m) => m.code === 405);
    await until(() => replies(client).length >= 600 + 401, 'the answers to the second subscribe');
    const second = replies(client).slice(600);
    expect(second).toHaveLength(401);
    expect(second.filter((s) => s.status === 'success')).toHaveLength(400);
    expect(refused).toMatchObject({ status: 'error', count: 200 });
    expect(String(refused.params).split(',')).toEqual(channels('B', 600).split(',').slice(400));
    expect(String(refused.message)).toContain('already has 1000 symbols');
    expect((await lookups()) - before).toBeLessThanOrEqual(2);
    client.close();
  });
});

describe('replies a client never reads', () => {
  it('close a client that spams subscribes without reading with 407, the edge holding at most its buffer bound', async () => {
    const client = await Client.authenticated(fx.port, delayedOnly.token);
    const params = channels('R', 100);
    await client.subscribe(params);
    const socket = (client.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const closesBefore = await metric(fx.port, 'mdhub_edge_slow_consumer_closes_total');
    let most = 0;
    for (let n = 0; n < 600; n++) {
      client.send({ action: 'subscribe', params });
      if (n % 25 === 0) {
        await sleep(5);
        most = Math.max(most, await metric(fx.port, 'mdhub_edge_client_queued_bytes'));
      }
    }
    await until(
      async () => {
        most = Math.max(most, await metric(fx.port, 'mdhub_edge_client_queued_bytes'));
        return (await metric(fx.port, 'mdhub_edge_slow_consumer_closes_total')) > closesBefore;
      },
      'the client to be closed as slow',
      20_000,
    );
    // The bound, plus the one reply that crossed it (100 statuses) and the 407 itself.
    expect(most).toBeLessThan(BUFFER_MAX + 128 * 1024);
    socket.resume();
    const error = await client.waitFor((m) => m.code === 407, 10_000);
    expect(String(error.message)).toContain('did not read data fast enough');
    expect((await client.waitClosed(10_000)).code).toBe(1008);
  });
});

describe('behind a trusted proxy', () => {
  it('20 bad tokens from one client address do not lock out a valid token from another, on the socket and on REST', async () => {
    const attacker = { 'x-forwarded-for': '198.51.100.66, 127.0.0.1' };
    for (let n = 0; n < 20; n++) {
      const client = await Client.connect(fx.port, attacker);
      client.send({ action: 'auth', params: `mdu_badguess${n}` });
      expect(await client.waitFor((m) => m.status === 'auth_failed')).toMatchObject({
        message: 'authentication failed',
      });
      await client.waitClosed();
    }
    const locked = await Client.connect(fx.port, attacker);
    locked.send({ action: 'auth', params: 'mdu_badguess20' });
    expect(String((await locked.waitFor((m) => m.status === 'auth_failed')).message)).toContain(
      'Too many failed authentication attempts',
    );
    await locked.waitClosed();

    // A user of its own, so no slot of `pro`'s sockets in earlier tests counts against it: a REST
    // request counts as one more session of the user.
    const proxied = await fx.user('abuse-proxied', { realtime: ['CTA_A', 'CTA_B', 'UTP'] });
    const rest = (apiKey: string, forwardedFor: string) =>
      fetch(`http://127.0.0.1:${fx.port}/v1/last/quote/VIC?apiKey=${apiKey}`, {
        headers: { 'x-forwarded-for': forwardedFor },
      });
    for (let n = 0; n < 20; n++) expect((await rest(`mdu_restbad${n}`, '198.51.100.67')).status).toBe(401);
    expect((await rest('mdu_restbad20', '198.51.100.67')).status).toBe(429);
    const ok = await rest(proxied.token, '198.51.100.8');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ mode: 'realtime' });

    const user = await Client.authenticated(fx.port, proxied.token, { 'x-forwarded-for': '198.51.100.7' });
    expect((await user.subscribe('Q.VIC'))[0]).toMatchObject({ mode: 'realtime' });
    user.close();
  });

  it('caps the sockets one client address holds before authenticating, others unaffected', async () => {
    const crowd = { 'x-forwarded-for': '203.0.113.5' };
    // A burst of fresh sockets (clients failing over at once) is admitted, up to ten times the cap.
    const waiting = await Promise.all(Array.from({ length: 30 }, () => Client.connect(fx.port, crowd)));
    expect(waiting.filter((c) => c.closed !== undefined)).toEqual([]);
    const refused = new Client(fx.port, crowd);
    const error = await refused.waitFor((m) => m.status === 'error');
    expect(error).toMatchObject({ code: 429 });
    expect(String(error.message)).toContain('30 connections waiting to authenticate');
    expect((await refused.waitClosed()).code).toBe(1008);

    // Once the oldest has waited a second, the next socket takes its place instead of being refused.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const next = await Client.connect(fx.port, crowd);
    const oldest = waiting[0] as Client;
    expect(await oldest.waitFor((m) => m.status === 'error')).toMatchObject({ code: 429 });
    expect((await oldest.waitClosed()).code).toBe(1008);
    expect(next.closed).toBeUndefined();

    const other = await Client.authenticated(fx.port, pro.token, { 'x-forwarded-for': '203.0.113.6' });
    other.close();
    (waiting[1] as Client).send({ action: 'auth', params: pro.token });
    await (waiting[1] as Client).waitFor((m) => m.status === 'auth_success');
    for (const client of [...waiting, next]) client.close();
  });
});

describe('a token revoked while its session authenticates', () => {
  it('yields no authenticated session', async () => {
    const user = await makeUser(fx.hub, 'abuse-midauth', { realtime: ['CTA_A'] });
    const issued = await run(fx.hub, (ctx) => issueToken({ ctx, input: { userId: user.id } }));
    await waitForToken(fx.port, issued.token);
    let release: () => void = () => undefined;
    hold = new Promise((resolve) => {
      release = resolve;
    });
    const client = await Client.connect(fx.port);
    const heldBefore = heldCalls;
    client.send({ action: 'auth', params: issued.token });
    try {
      await until(() => heldCalls > heldBefore, 'the authentication to take a session slot');
      await run(fx.hub, (ctx) => revokeToken({ ctx, input: { userId: user.id, tokenId: issued.id } }));
      await until(async () => {
        const res = await fetch(`http://127.0.0.1:${fx.port}/v1/last/quote/VIC?apiKey=${issued.token}`);
        return res.status === 401;
      }, 'the edge to learn of the revocation');
    } finally {
      hold = undefined;
      release();
    }
    expect(await client.waitFor((m) => m.status === 'auth_failed')).toMatchObject({
      message: 'authentication failed',
    });
    expect((await client.waitClosed()).code).toBe(1008);
    expect(client.statuses().some((s) => s.status === 'auth_success')).toBe(false);
  });
});
