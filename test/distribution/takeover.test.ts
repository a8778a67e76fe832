import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../entitlements/index.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, metric, publish, quote, run, sdkApp, until, waitForToken } from './helpers.js';

const PING_MS = 1_000;
/** A client that never answers pings, as a half-dead connection looks from the edge. */
const SILENT = { autoPong: false };

let fx: DistributionFixture;

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'takeover',
    options: { pingIntervalMs: PING_MS, takeoverProbeMs: 300 },
    lastValues: [quote('AAA', 1)],
  });
});

afterAll(() => fx?.close());

/** A second token of `userId`, bound to `deviceId`, that the edge already knows. */
async function tokenFor(userId: string, deviceId: string): Promise<string> {
  const issued = await run(fx.hub, (ctx) => issueToken({ ctx, input: { userId, deviceId } }));
  await waitForToken(fx.port, issued.token);
  return issued.token;
}

describe('session takeover', () => {
  it('a reconnect of the same device replaces its session that stopped answering pings, at once, and gets real time', async () => {
    const user = await fx.user('takeover-phone', { realtime: ['CTA_A'], sessionLimit: 1, deviceId: 'phone' });
    const takeoversBefore = await metric(fx.port, 'mdhub_edge_session_takeovers_total');
    const old = await Client.authenticated(fx.port, user.token, undefined, SILENT);
    expect((await old.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });

    const fresh = await Client.authenticated(fx.port, user.token);
    expect(await old.waitFor((m) => m.status === 'session_replaced')).toMatchObject({ ev: 'status' });
    expect(await old.waitClosed()).toEqual({ code: 4000, reason: 'session replaced' });
    expect((await fresh.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    expect(fresh.statuses().filter((m) => m.code === 406)).toEqual([]);
    // The old slot is gone from the shared store too: the user holds exactly one, the new session's.
    expect(await fx.bus.sessions.count(user.id)).toBe(1);
    expect(await metric(fx.port, 'mdhub_edge_session_takeovers_total')).toBe(takeoversBefore + 1);

    const sent = quote('AAA', 1);
    await publish(fx.bus, [sent]);
    await fresh.waitFor((m) => m.ev === 'Q' && m.q === sent.q);
    fresh.close();
  });

  it("a reconnect at the limit pings the device's session it has no news of, and replaces it when no pong comes in the probe window", async () => {
    // Keepalive pings far apart: the old session has no ping outstanding, only the probe can tell.
    const edge = await fx.edge({ options: { pingIntervalMs: 600_000, takeoverProbeMs: 300 } });
    const user = await fx.user('takeover-probe', { realtime: ['CTA_A'], sessionLimit: 1, deviceId: 'watch' });
    const old = await Client.authenticated(edge.port, user.token, undefined, SILENT);
    expect((await old.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    const fresh = await Client.authenticated(edge.port, user.token);
    expect(await old.waitFor((m) => m.status === 'session_replaced')).toMatchObject({ ev: 'status' });
    expect((await old.waitClosed()).code).toBe(4000);
    expect((await fresh.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    expect(fresh.statuses().filter((m) => m.code === 406)).toEqual([]);
    expect(await metric(edge.port, 'mdhub_edge_session_takeovers_total')).toBe(1);
    fresh.close();

    // The same with a session that answers: the probe's pong keeps it, and the newcomer is limited.
    const live = await fx.user('takeover-probe-live', {
      realtime: ['CTA_A'],
      sessionLimit: 1,
      deviceId: 'watch',
    });
    const owner = await Client.authenticated(edge.port, live.token);
    expect((await owner.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    const copy = await Client.authenticated(edge.port, live.token);
    expect(await copy.waitFor((m) => m.code === 406)).toMatchObject({ status: 'error' });
    expect(owner.closed).toBeUndefined();
    expect(await metric(edge.port, 'mdhub_edge_session_takeovers_total')).toBe(1);
    owner.close();
    copy.close();
  });

  it("a reconnect on another edge replaces the device's silent session there, through the bus, without a 406", async () => {
    const other = await fx.edge({ options: { pingIntervalMs: PING_MS, takeoverProbeMs: 300 } });
    const user = await fx.user('takeover-edges', { realtime: ['CTA_A'], sessionLimit: 1, deviceId: 'desk' });
    const old = await Client.authenticated(fx.port, user.token, undefined, SILENT);
    expect((await old.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    const fresh = await Client.authenticated(other.port, user.token);
    expect(await old.waitFor((m) => m.status === 'session_replaced')).toMatchObject({ ev: 'status' });
    expect((await old.waitClosed()).code).toBe(4000);
    expect((await fresh.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    expect(fresh.statuses().filter((m) => m.code === 406)).toEqual([]);
    expect(await fx.bus.sessions.count(user.id)).toBe(1);
    fresh.close();
  });

  it('a live session of the same device is not replaced: the newcomer gets the session limit (a copied token cannot push the owner out)', async () => {
    const user = await fx.user('takeover-live', { realtime: ['CTA_A'], sessionLimit: 1, deviceId: 'tablet' });
    const owner = await Client.authenticated(fx.port, user.token);
    expect((await owner.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    const copy = await Client.authenticated(fx.port, user.token);
    expect(await copy.waitFor((m) => m.code === 406)).toMatchObject({ status: 'error' });
    expect((await copy.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed', reason: 'session_limit' });
    expect(owner.closed).toBeUndefined();
    expect(owner.statuses().filter((m) => m.status === 'session_replaced' || m.status === 'mode')).toEqual(
      [],
    );
    owner.close();
    copy.close();
  });

  it('another device gets the session-limit treatment; the keepalive terminates the silent session and the other gets real time', async () => {
    const user = await fx.user('takeover-two', { realtime: ['CTA_A'], sessionLimit: 1, deviceId: 'laptop' });
    const phone = await tokenFor(user.id, 'phone');
    const terminationsBefore = await metric(fx.port, 'mdhub_edge_keepalive_terminations_total');
    const takeoversBefore = await metric(fx.port, 'mdhub_edge_session_takeovers_total');
    const laptop = await Client.authenticated(fx.port, user.token, undefined, SILENT);
    expect((await laptop.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });

    const other = await Client.authenticated(fx.port, phone);
    expect(await other.waitFor((m) => m.code === 406)).toMatchObject({ status: 'error' });
    expect((await other.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed', reason: 'session_limit' });
    expect(laptop.closed).toBeUndefined();

    // No pong by the next ping: terminated without a close handshake, and its slot goes to the phone.
    expect((await laptop.waitClosed(4 * PING_MS)).code).toBe(1006);
    expect(laptop.statuses().filter((m) => m.status === 'session_replaced')).toEqual([]);
    expect(await other.waitFor((m) => m.status === 'mode', 2_000)).toMatchObject({
      params: 'Q.AAA',
      mode: 'realtime',
    });
    expect(await metric(fx.port, 'mdhub_edge_keepalive_terminations_total')).toBeGreaterThan(
      terminationsBefore,
    );
    expect(await metric(fx.port, 'mdhub_edge_session_takeovers_total')).toBe(takeoversBefore);
    other.close();
  });

  it('a client that answers pings stays connected across many keepalive intervals', async () => {
    const user = await fx.user('takeover-steady', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(fx.port, user.token);
    await client.subscribe('Q.AAA');
    let pings = 0;
    client.ws.on('ping', () => pings++);
    await until(() => pings >= 3, 'three pings', 6 * PING_MS);
    expect(client.closed).toBeUndefined();
    client.close();
  });

  it('an app built on @polygon.io/client-js answers the pings and keeps receiving, unchanged', async () => {
    const user = await fx.user('takeover-sdk', { realtime: ['CTA_A'] });
    const socket = sdkApp(fx.port, user.token, 'Q.AAA');
    const { messages } = socket;
    try {
      await until(() => messages.some((m) => m.status === 'success'), 'subscription status');
      expect(messages.slice(0, 3)).toEqual([
        { ev: 'status', status: 'connected', message: 'Connected Successfully' },
        { ev: 'status', status: 'auth_success', message: 'authenticated' },
        { ev: 'status', status: 'success', message: 'subscribed to: Q.AAA', mode: 'realtime' },
      ]);
      const terminations = await metric(fx.port, 'mdhub_edge_keepalive_terminations_total');
      // Past three keepalive intervals: a client that did not answer would have been terminated.
      const probe = await Client.authenticated(fx.port, user.token);
      let pings = 0;
      probe.ws.on('ping', () => pings++);
      await until(() => pings >= 3, 'three keepalive intervals', 6 * PING_MS);
      probe.close();
      expect(socket.closed).toBeUndefined();
      const sent = quote('AAA', 1);
      await publish(fx.bus, [sent]);
      await until(() => messages.some((m) => m.ev === 'Q' && m.q === sent.q), 'a quote');
      expect(await metric(fx.port, 'mdhub_edge_keepalive_terminations_total')).toBe(terminations);
    } finally {
      socket.close();
    }
  });
});
