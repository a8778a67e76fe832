import { createClient } from 'redis';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCatalog } from '../../config/index.js';
import { createIngest, type Ingest } from '../../ingest/index.js';
import { leaseTimings } from '../../ingest/leader.js';
import { type Bus, openBus } from '../../platform/bus/index.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry, type Registry } from '../../platform/metrics.js';
import { FakePolygonServer } from '../../testing/polygon-server.js';
import { cleanupRedisPrefix, REDIS_URL, uniqueName } from '../helpers/services.js';
import { quote, waitUntil, watchTicks } from './events.js';

const KEY = 'lease-test-key';
const filePrefix = uniqueName('ingest_leader');
const catalog = loadCatalog();
const LEASE = { ttlMs: 1_000, renewMs: 250, pollMs: 100 };

let server: FakePolygonServer;
const buses: Bus[] = [];
const running: Ingest[] = [];
let prefix = '';
let testNo = 0;

beforeEach(async () => {
  server = await FakePolygonServer.start({ key: KEY });
  prefix = `${filePrefix}:${++testNo}`;
});

afterEach(async () => {
  for (const ingest of running.splice(0)) await ingest.stop();
  for (const bus of buses.splice(0)) await bus.close();
  await server.close();
});

afterAll(async () => {
  await cleanupRedisPrefix(filePrefix);
});

/** An ingest process of its own (own bus connection), as a separate process would have. */
async function process_(
  lease: typeof LEASE | undefined = LEASE,
): Promise<{ ingest: Ingest; bus: Bus; metrics: Registry }> {
  const bus = await openBus({ url: REDIS_URL, prefix, shards: 4 });
  buses.push(bus);
  const metrics = createMetricsRegistry();
  const ingest = await createIngest({
    bus,
    catalog,
    logger: silentLogger,
    metrics,
    lease,
    polygon: { apiKey: KEY, url: server.url, subscriptions: 'Q.*', backoffBaseMs: 20, backoffMaxMs: 100 },
  });
  running.push(ingest);
  return { ingest, bus, metrics };
}

async function metric(registry: Registry, name: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // An event-loop stall: no timer, socket or promise callback runs meanwhile.
  }
}

describe('feed lease timings', () => {
  it('renews every third of the TTL and lets a standby try every sixth, 750 ms by default', () => {
    expect(leaseTimings()).toEqual({ ttlMs: 750, renewMs: 250, pollMs: 125 });
    expect(leaseTimings({ ttlMs: 3_000 })).toEqual({ ttlMs: 3_000, renewMs: 1_000, pollMs: 500 });
    expect(leaseTimings({ ttlMs: 1_000, renewMs: 400, pollMs: 50 })).toEqual({
      ttlMs: 1_000,
      renewMs: 400,
      pollMs: 50,
    });
  });
});

describe('feed leader lease', () => {
  it('lets exactly one of two ingest processes connect, and the other take over when it stops', async () => {
    const a = await process_();
    const b = await process_();
    await waitUntil('one is subscribed', () => server.subscribed === 1);
    await waitUntil('both settled', () => a.ingest.leading !== b.ingest.leading);
    const [leader, standby] = a.ingest.leading ? [a, b] : [b, a];
    expect(standby.ingest.feedState).toBe('idle');
    // The standby's socket is open ahead of time, but only the leader is authenticated.
    await waitUntil('the standby socket is open', () => server.open === 2);
    expect(server.authenticated).toBe(1);
    expect(server.authAttempts).toBe(1);
    const opened = server.connections;

    const ticks = watchTicks(leader.bus.ticks);
    try {
      server.send([quote('ONE')]);
      await waitUntil('the first event is on the bus', () => ticks.events.length === 1);
      await leader.ingest.stop();
      await waitUntil(
        'the standby took over',
        () => standby.ingest.leading && server.subscribed === 1,
        5_000,
      );
      // It authenticated on the socket it held open: no new connection at takeover.
      expect(server.connections).toBe(opened);
      expect(server.authAttempts).toBe(2);
      server.send([quote('TWO')]);
      await waitUntil('the second event is on the bus', () => ticks.events.length === 2);
    } finally {
      await ticks.close();
    }
    expect(ticks.events.map((json) => JSON.parse(json).sym)).toEqual(['ONE', 'TWO']);
    expect(server.maxSimultaneous).toBe(1);
  });

  it('replaces a leader that went silent within about one default lease TTL, and reports the takeover', async () => {
    const a = await process_(undefined);
    await waitUntil('a leads', () => a.ingest.leading && server.subscribed === 1);
    const b = await process_(undefined);
    await waitUntil('the standby socket is open', () => server.open === 2);
    let n = 0;
    server.stream(() => [quote(`S${n++}`)], 10);
    const ticks = watchTicks(b.bus.ticks);
    try {
      await waitUntil('events arrive from the leader', () => ticks.events.length >= 5);
      const opened = server.connections;
      // The leader's bus goes away without releasing the lease, as when the process dies: the lease
      // lapses in Redis after its TTL.
      const silentAt = performance.now();
      buses.splice(buses.indexOf(a.bus), 1);
      await a.bus.close();
      await waitUntil('the standby took over', () => b.ingest.leading && server.subscribed === 1, 5_000);
      const seen = ticks.events.length;
      await waitUntil('events arrive from the new leader', () => ticks.events.length > seen + 5);
      // A generous bound (the old 3 s lease took 3–3.5 s); the drill measures the real figure.
      expect(performance.now() - silentAt).toBeLessThan(3_000);
      // The old leader, deposed, opened a standby socket of its own; the new one opened none.
      expect(server.connections).toBe(opened + 1);
    } finally {
      server.stopStreaming();
      await ticks.close();
    }
    expect(server.maxSimultaneous).toBe(1);
    expect(await metric(b.metrics, 'mdhub_ingest_elections_total')).toBe(1);
    expect(await metric(b.metrics, 'mdhub_ingest_takeover_seconds_count')).toBe(1);
    expect(await metric(b.metrics, 'mdhub_ingest_takeover_seconds_sum')).toBeGreaterThan(0);
  });

  it('stops publishing at once when its lease deadline passed during an event-loop stall', async () => {
    const a = await process_();
    await waitUntil('subscribed', () => server.subscribed === 1);
    const ticks = watchTicks(a.bus.ticks);
    try {
      busyWait(LEASE.ttlMs + 200);
      // Right after the stall, before any timer could renew: the next publish must be refused.
      a.ingest.pipeline.frame(JSON.stringify([quote('LATE')]));
      a.ingest.pipeline.publisher.flush();
      expect(a.ingest.leading).toBe(false);
      expect(a.ingest.stats.dropped.not_leader).toBe(1);
      expect(a.ingest.stats.published.Q).toBe(0);

      // Nobody else holds the lease, so it is taken again and the feed reopened.
      await waitUntil(
        're-elected and resubscribed',
        () => a.ingest.leading && server.subscribeRequests.length === 2,
      );
      await waitUntil('subscribed', () => server.subscribed === 1);
      server.send([quote('AGAIN')]);
      await waitUntil('the next event is on the bus', () => ticks.events.length === 1);
    } finally {
      await ticks.close();
    }
    expect(ticks.events.map((json) => JSON.parse(json).sym)).toEqual(['AGAIN']);
    expect(server.maxSimultaneous).toBe(1);
  });

  it('closes the vendor socket when another process takes the lease', async () => {
    const a = await process_();
    await waitUntil('subscribed', () => server.subscribed === 1);
    // The lease key vanishes (a Redis failover that lost it) and another holder takes it at once.
    const redis = createClient({ url: REDIS_URL });
    await redis.connect();
    try {
      await redis.del(`${prefix}:lease:{ingest:polygon}`);
      expect(await a.bus.leases.acquire('ingest:polygon', 'intruder', 60_000)).toBe(true);
    } finally {
      redis.destroy();
    }
    // Its next renewal (every 250 ms) finds the lease taken.
    await waitUntil('deposed', () => !a.ingest.leading, 3_000);
    await waitUntil('the vendor socket is closed', () => server.authenticated === 0);
  });
});
