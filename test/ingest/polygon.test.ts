import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { loadCatalog } from '../../config/index.js';
import { createIngest, type Ingest, type IngestOptions, readLastValue } from '../../ingest/index.js';
import { PolygonFeed } from '../../ingest/polygon.js';
import { IngestStats } from '../../ingest/stats.js';
import { type Bus, openBus } from '../../platform/bus/index.js';
import { HealthChecks } from '../../platform/health.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { FakePolygonServer } from '../../testing/polygon-server.js';
import { cleanupRedisPrefix, REDIS_URL, uniqueName } from '../helpers/services.js';
import { quote, trade, waitUntil, watchTicks } from './events.js';

const KEY = 'test-key-0123456789';
const filePrefix = uniqueName('ingest_polygon');
const catalog = loadCatalog();
/** Fast retries so a test sees several attempts in well under a second. */
const FAST = { backoffBaseMs: 20, backoffMaxMs: 100, maxConnectionsBackoffMs: 1_000 };

let server: FakePolygonServer;
let bus: Bus;
const running: Ingest[] = [];
let testNo = 0;

beforeEach(async () => {
  server = await FakePolygonServer.start({ key: KEY });
  bus = await openBus({ url: REDIS_URL, prefix: `${filePrefix}:${++testNo}`, shards: 4 });
});

afterEach(async () => {
  for (const ingest of running.splice(0)) await ingest.stop();
  await bus.close();
  await server.close();
});

afterAll(async () => {
  await cleanupRedisPrefix(filePrefix);
});

async function start(
  overrides: Partial<IngestOptions> & { tuning?: typeof FAST & { staleMs?: number } } = {},
  key = KEY,
): Promise<Ingest> {
  const { tuning = FAST, ...rest } = overrides;
  const ingest = await createIngest({
    bus,
    catalog,
    logger: silentLogger,
    polygon: { apiKey: key, url: server.url, subscriptions: 'T.*,Q.*', ...tuning },
    ...rest,
  });
  running.push(ingest);
  return ingest;
}

describe('Polygon feed', () => {
  it('authenticates, subscribes and publishes client-ready events onto Redis, with last values', async () => {
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const health = new HealthChecks();
    const ingest = await start({ metrics, health });
    await waitUntil('the hub subscribed', () => server.subscribed === 1);
    expect(server.subscribeRequests).toEqual(['T.*,Q.*']);
    expect(ingest.feedState).toBe('connected');
    expect((await health.run()).checks.feed).toMatchObject({ ok: true });

    const ticks = watchTicks(bus.ticks);
    try {
      server.send([trade('AAPL', { trfi: 202, trft: 1 }), quote('MSFT', { z: 1, secret: 'x' })]);
      await waitUntil('both events are on the bus', () => ticks.events.length === 2);
      expect(ticks.events.map((json) => JSON.parse(json))).toEqual([
        {
          ev: 'T',
          sym: 'AAPL',
          x: 4,
          i: '52983525029461',
          z: 3,
          p: 114.125,
          s: 100,
          c: [14, 41],
          t: 1536036818784,
          q: 3681328,
        },
        {
          ev: 'Q',
          sym: 'MSFT',
          bx: 4,
          bp: 114.125,
          bs: 100,
          ax: 7,
          ap: 114.128,
          as: 160,
          c: 0,
          i: [604],
          t: 1536036818784,
          q: 50385480,
          z: 1,
        },
      ]);
    } finally {
      await ticks.close();
    }
    await waitUntil('the last quote is cached', async () => (await readLastValue(bus, 'Q', 'MSFT')) !== null);
    expect(await readLastValue(bus, 'Q', 'MSFT')).toMatchObject({ ev: 'Q', sym: 'MSFT', bp: 114.125, z: 1 });
    expect(await readLastValue(bus, 'T', 'AAPL')).toMatchObject({ ev: 'T', sym: 'AAPL', p: 114.125 });
    expect(await readLastValue(bus, 'T', 'MSFT')).toBeNull();

    const text = await metrics.metrics();
    expect(text).toContain('mdhub_ingest_events_published_total{type="T"} 1');
    expect(text).toContain('mdhub_ingest_events_published_total{type="Q"} 1');
    expect(text).toContain('mdhub_ingest_feed_state{state="connected"} 1');
    expect(text).toContain('mdhub_ingest_leader 1');
    expect(text).toMatch(/mdhub_ingest_publish_seconds_count \d+/);
    expect(text).not.toContain(KEY);
  });

  it('reconnects after a drop, re-authenticates and resubscribes, and the events keep coming', async () => {
    const ingest = await start();
    await waitUntil('subscribed', () => server.subscribed === 1);
    server.dropAll();
    await waitUntil(
      'subscribed again',
      () => server.subscribeRequests.length === 2 && server.subscribed === 1,
    );
    expect(server.connections).toBe(2);
    expect(ingest.stats.reconnects).toBe(1);
    const ticks = watchTicks(bus.ticks);
    try {
      server.send([quote('AFTER')]);
      await waitUntil('the event after the reconnect is on the bus', () => ticks.events.length === 1);
    } finally {
      await ticks.close();
    }
  });

  it('counts every kind of bad frame by reason and skips it, on the same connection', async () => {
    const ingest = await start();
    await waitUntil('subscribed', () => server.subscribed === 1);
    const ticks = watchTicks(bus.ticks);
    try {
      server.send('not json at all');
      server.send('{"ev":"Q","sym":"AAPL"}');
      server.send([42, { ev: 'XQ', sym: 'AAPL' }, { ev: 'Q' }, quote('A"B'), trade('AAPL', { p: 'free' })]);
      server.send([trade('AAPL', { p: -1 }), trade('AAPL', { s: -5 }), quote('AAPL', { z: 9 })]);
      server.sendBinary(Buffer.from([1, 2, 3]));
      // 1.5 MiB in fragments the socket accepts, so the size check is the normaliser's.
      server.sendFragmented(JSON.stringify([quote('BIG', { pad: 'x'.repeat(1_500_000) })]), 4);
      server.send([quote('GOOD')]);
      await waitUntil('the good event is on the bus', () => ticks.events.length === 1);
    } finally {
      await ticks.close();
    }
    expect(ticks.events.map((json) => JSON.parse(json).sym)).toEqual(['GOOD']);
    expect(ingest.pipeline.normalizer.malformed).toEqual({
      oversized: 1,
      binary_frame: 1,
      invalid_json: 1,
      not_array: 1,
      not_object: 1,
      unknown_event: 1,
      missing_sym: 1,
      bad_symbol: 1,
      wrong_type: 1,
      bad_price: 1,
      bad_size: 1,
      unknown_tape: 1,
      future_time: 0,
    });
    expect(server.connections).toBe(1);
    expect(ingest.feedState).toBe('connected');
  });

  it('drops and counts an event stamped an hour ahead of the clock, and the events after it flow', async () => {
    const now = 1_800_000_000_000;
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const ingest = await start({ metrics, now: () => now });
    await waitUntil('subscribed', () => server.subscribed === 1);
    const ticks = watchTicks(bus.ticks);
    try {
      // One frame the fast path takes whole, one it declines (a vendor field out of client form).
      server.send([quote('AHEAD', { t: now + 3_600_000 }), quote('ONTIME', { t: now })]);
      server.send([
        trade('LATE', { t: now + 3_600_000, extra: { nested: true } }),
        trade('AAPL', { t: now - 1_000 }),
      ]);
      server.send([quote('EDGE', { t: now + 5_000 }), quote('NEXT', { t: now + 1 })]);
      await waitUntil('the on-time events are on the bus', () => ticks.events.length === 4);
    } finally {
      await ticks.close();
    }
    // Batched per symbol shard: the order across symbols is not the vendor's, only within one.
    expect(ticks.events.map((json) => JSON.parse(json).sym).sort()).toEqual([
      'AAPL',
      'EDGE',
      'NEXT',
      'ONTIME',
    ]);
    expect(ingest.pipeline.normalizer.malformed.future_time).toBe(2);
    expect(await metrics.metrics()).toContain('mdhub_ingest_malformed_total{reason="future_time"} 2');
  });

  it('counts a message the socket refuses as too large, and reconnects', async () => {
    const ingest = await start();
    await waitUntil('subscribed', () => server.subscribed === 1);
    server.send(JSON.stringify([quote('BIG', { pad: 'x'.repeat(1_200_000) })]));
    await waitUntil(
      'subscribed again',
      () => server.subscribeRequests.length === 2 && server.subscribed === 1,
    );
    expect(ingest.pipeline.normalizer.malformed.oversized).toBe(1);
  });

  it('stops for good when the vendor refuses the key, without retrying', async () => {
    const health = new HealthChecks();
    const ingest = await start({ health }, 'wrong-key');
    await waitUntil('the feed failed', () => ingest.feedState === 'failed');
    // Retries are 20–100 ms apart here: a storm would show many attempts by now.
    await sleep(500);
    expect(server.connections).toBe(1);
    expect(server.authAttempts).toBe(1);
    const { checks } = await health.run();
    expect(checks.feed).toEqual({ ok: false, detail: expect.stringMatching(/^failed: .*auth_failed/) });
    expect(JSON.stringify(checks)).not.toContain('wrong-key');
  });

  it('backs off long after max_connections, then reconnects', async () => {
    const ingest = await start();
    await waitUntil('subscribed', () => server.subscribed === 1);
    server.kickWithMaxConnections();
    await waitUntil('backing off', () => ingest.feedState === 'backoff');
    expect(ingest.stats.maxConnections).toBe(1);
    expect(ingest.feedDetail).toMatch(/max_connections/);
    // An ordinary drop would retry within 100 ms here; a takeover waits at least a second.
    await sleep(500);
    expect(server.connections).toBe(1);
    await waitUntil('reconnected', () => server.subscribed === 1 && server.connections === 2, 5_000);
  });

  it('reports the feed stale when no frame arrives, and connected again on the next one', async () => {
    const ingest = await start({ tuning: { ...FAST, staleMs: 200 } });
    await waitUntil('subscribed', () => server.subscribed === 1);
    await waitUntil('stale', () => ingest.feedState === 'stale');
    server.send([quote('WAKE')]);
    await waitUntil('connected', () => ingest.feedState === 'connected');
  });

  it('closes the vendor socket on stop', async () => {
    const ingest = await start();
    await waitUntil('subscribed', () => server.subscribed === 1);
    await ingest.stop();
    await waitUntil('the fake saw the close', () => server.authenticated === 0);
    expect(ingest.feedState).toBe('idle');
  });

  it('holds a standby socket open without authenticating, reopens it when dropped, and authenticates on it at start', async () => {
    const frames: unknown[] = [];
    const stats = new IngestStats();
    const feed = new PolygonFeed({
      apiKey: KEY,
      url: server.url,
      subscriptions: 'Q.*',
      onFrame: (data) => frames.push(data),
      stats,
      logger: silentLogger,
      ...FAST,
    });
    try {
      feed.prepare();
      await waitUntil('the standby socket is open', () => server.open === 1);
      await sleep(100);
      expect(server.authAttempts).toBe(0);
      expect(feed.state).toBe('idle');
      // Nothing the vendor says before the feed runs reaches the normaliser (its `connected` status).
      expect(frames).toEqual([]);

      // Polygon closes a socket that never authenticates; the standby opens another.
      server.dropAll();
      await waitUntil('reopened', () => server.connections === 2 && server.open === 1);
      expect(server.authAttempts).toBe(0);

      feed.start();
      await waitUntil('authenticated on the open socket', () => server.authenticated === 1);
      expect(server.connections).toBe(2);
      expect(stats.reconnects).toBe(0);
    } finally {
      await feed.stop();
    }
    await waitUntil('closed on stop', () => server.open === 0);
  });

  it('gives up a standby socket that does not answer its auth at takeover, for a new connection', async () => {
    // A vendor endpoint that accepts the socket and then says nothing: a connection that died
    // silently while the standby held it.
    const http = createServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const mute = new WebSocketServer({ server: http, path: '/stocks' });
    let opened = 0;
    mute.on('connection', () => opened++);
    const feed = new PolygonFeed({
      apiKey: KEY,
      url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
      subscriptions: 'Q.*',
      onFrame: () => undefined,
      stats: new IngestStats(),
      logger: silentLogger,
      ...FAST,
      warmAuthTimeoutMs: 100,
    });
    try {
      feed.prepare();
      await waitUntil('the standby socket is open', () => opened === 1);
      feed.start();
      await waitUntil('a new connection replaced it', () => opened === 2, 3_000);
    } finally {
      await feed.stop();
      for (const client of mute.clients) client.terminate();
      await new Promise<void>((resolve) => mute.close(() => resolve()));
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });
});
