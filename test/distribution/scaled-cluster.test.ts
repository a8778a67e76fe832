/**
 * Two edges on a Redis Cluster of this file's own (3 masters, a replica each), through
 * REDIS_CLUSTER_URLS: real time to the entitled, delayed to the others, across a failover of the
 * master serving the control stream, and a revocation after it still reaches the edges.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../app/hub.js';
import { clusterUnavailable, RedisCluster } from '../../testing/redis-cluster.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, quote, type Received, revokeGrant, ticker, until } from './helpers.js';

const NO_CLUSTER = clusterUnavailable();
const DELAY_MS = 800;
let cluster: RedisCluster | undefined;
let fx: DistributionFixture | undefined;

beforeAll(async () => {
  if (NO_CLUSTER !== undefined) return;
  cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  const env = { REDIS_URL: '', REDIS_CLUSTER_URLS: cluster.envValue };
  fx = await distributionFixture({
    name: 'cluster',
    delayMs: DELAY_MS,
    options: { delayIntervalMs: 50 },
    env: { ...env, MDHUB_EDGE_ID: 'edge-one' },
    lastValues: [quote('AAA', 1)],
  });
  await fx.edge({ env: { ...env, MDHUB_EDGE_ID: 'edge-two' } });
}, 90_000);

afterAll(async () => {
  await fx?.close();
  await cluster?.stop();
});

/** Received no earlier than vendor time + delay. */
const delayed = (r: Received) => r.at >= (r.message.t as number) + DELAY_MS;

describe.skipIf(NO_CLUSTER !== undefined)(`two edges on a Redis Cluster ${NO_CLUSTER ?? ''}`, () => {
  it('real time to the entitled and delayed to the others, across a failover of every master', async () => {
    const f = fx as DistributionFixture;
    const c = cluster as RedisCluster;
    const [one, two] = f.hubs as [Hub, Hub];
    const pro = await f.user('cluster-pro', { realtime: ['CTA_A'] });
    const visitor = await f.user('cluster-visitor');
    const proClient = await Client.authenticated(two.port, pro.token);
    const visitorClient = await Client.authenticated(one.port, visitor.token);
    expect((await proClient.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    expect((await visitorClient.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed' });
    const feed = ticker(f.bus, [['AAA', 1]], 10);
    try {
      await until(() => proClient.events('Q').length > 5, 'real-time quotes before the failover', 10_000);
      const before = proClient.events('Q').length;
      // Every master in turn: the tick shards, the control stream (the edges' entitlement feed),
      // the usage stream and the session slots all move to the former replicas.
      for (const master of [0, 1, 2]) await c.failover(master);
      await until(
        () => proClient.events('Q').length > before + 20,
        'real-time quotes after the failover',
        15_000,
      );
      // Healthy again once each edge's connections have followed the new masters (a moment after
      // data flows again: a connection still reconnecting reports itself).
      for (const hub of [one, two])
        await expect
          .poll(() => hub.ctx.bus.health(), { timeout: 15_000 })
          .toEqual({ ok: true, detail: 'redis cluster' });

      // The failover may have turned the subscription delayed and back (the edge fails closed while
      // its entitlement feed is down): the revocation's announcement is the one after this point.
      const mark = proClient.received.length;
      await revokeGrant(one, pro.id, 'CTA_A');
      let announcedAt = 0;
      await until(
        () => {
          const change = proClient.received
            .slice(mark)
            .find((r) => r.message.status === 'mode' && r.message.reason === 'no_grant');
          announcedAt = change?.at ?? 0;
          return change !== undefined;
        },
        'the revocation announced',
        15_000,
      );
      await sleep(DELAY_MS + 400);
      const after = proClient.received.filter((r) => r.at > announcedAt && r.message.ev === 'Q');
      expect(after.length).toBeGreaterThan(0);
      expect(after.every(delayed)).toBe(true);
    } finally {
      await feed.stop();
    }
    const seen = visitorClient.received.filter((r) => r.message.ev === 'Q');
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every(delayed)).toBe(true);
    proClient.close();
    visitorClient.close();
  }, 90_000);
});
