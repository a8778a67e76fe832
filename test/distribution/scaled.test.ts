import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hub, startHub } from '../../app/hub.js';
import { createEdgeStarter } from '../../app/roles.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { silentLogger } from '../../platform/logger.js';
import { cleanupRedisPrefix, POSTGRES_URL, REDIS_URL, uniqueName } from '../helpers/services.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import {
  Client,
  makeUser,
  publish,
  quote,
  readUsage,
  setLastValues,
  TEST_OPTIONS,
  until,
  waitForToken,
} from './helpers.js';

let fx: DistributionFixture;

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'scaled',
    env: { MDHUB_EDGE_ID: 'edge-one' },
    lastValues: [quote('AAA', 1)],
  });
  await fx.edge({ env: { MDHUB_EDGE_ID: 'edge-two' } });
});

afterAll(() => fx?.close());

describe('two edges on one Redis', () => {
  it('both deliver every tick, and each meters its own sessions under its edge id', async () => {
    const [one, two] = fx.hubs as [Hub, Hub];
    const user = await fx.user('scaled-pro', { realtime: ['CTA_A'] });
    const onOne = await Client.authenticated(one.port, user.token);
    const onTwo = await Client.authenticated(two.port, user.token);
    await onOne.subscribe('Q.AAA');
    await onTwo.subscribe('Q.AAA');
    const sent = Array.from({ length: 10 }, () => quote('AAA', 1));
    await publish(one.ctx.bus, sent);
    await until(
      () => onOne.events('Q').length === 10 && onTwo.events('Q').length === 10,
      'quotes on both edges',
    );
    expect(onTwo.events('Q').map((r) => r.message.q)).toEqual(sent.map((q) => q.q));
    onOne.close();
    onTwo.close();
    await until(
      async () =>
        (await readUsage(fx.bus, 'scaled-a')).filter((e) => e.kind === 'session_close').length === 2,
      'both sessions closed',
    );
    const events = (await readUsage(fx.bus, 'scaled-b')).filter((e) => e.user === 'scaled-pro');
    const opens = events
      .filter((e) => e.kind === 'session_open')
      .map((e) => e.edge)
      .sort();
    expect(opens).toEqual(['edge-one', 'edge-two']);
    const firsts = events.filter((e) => e.kind === 'first_access');
    expect(firsts).toHaveLength(2);
    expect(firsts[0]?.id).toBe(firsts[1]?.id);
    const delivered = events.reduce((sum, e) => sum + (e.kind === 'deliveries' ? e.count : 0), 0);
    expect(delivered).toBe(20);
  });

  it('counts a user on two edges as two sessions: over the limit gets 406 on the other edge', async () => {
    const [one, two] = fx.hubs as [Hub, Hub];
    const user = await fx.user('scaled-single', { realtime: ['CTA_A'], sessionLimit: 1 });
    const first = await Client.authenticated(one.port, user.token);
    expect((await first.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
    const second = await Client.authenticated(two.port, user.token);
    expect(await second.waitFor((m) => m.code === 406)).toMatchObject({ status: 'error' });
    expect((await second.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed', reason: 'session_limit' });
    first.close();
    second.close();
  });
});

describe('a fresh edge', () => {
  it('fills its delay line from the bus, so delayed clients get what was published before it started', async () => {
    const [one] = fx.hubs as [Hub];
    const visitor = await makeUser(one, 'scaled-visitor');
    const before = quote('AAA', 1, Date.now(), 123);
    await publish(one.ctx.bus, [before]);
    const fresh = await fx.edge({
      delayMs: 1_500,
      options: { delayIntervalMs: 50 },
      env: { MDHUB_EDGE_ID: 'edge-fresh' },
    });
    await waitForToken(fresh.port, visitor.token);
    const client = await Client.authenticated(fresh.port, visitor.token);
    expect((await client.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed' });
    const received = await client.waitFor((m) => m.ev === 'Q' && m.q === before.q, 5_000);
    const at = client.received.find((r) => r.message === received)?.at as number;
    expect(at).toBeGreaterThanOrEqual(before.t + 1_500);
    client.close();
  });
});

describe('edge shutdown', () => {
  it('closes sockets with 1001, records the session ends and flushes the counters', async () => {
    const edgePrefix = uniqueName('dist_stop');
    const edgeSchema = uniqueName('t_dist_stop');
    const env = parseEnv({
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL,
      DATABASE_URL: POSTGRES_URL,
      MDHUB_LOG_LEVEL: 'silent',
      MDHUB_DELAY_MS: '1000',
      MDHUB_DATA_DIR: mkdtempSync(join(tmpdir(), 'mdhub-stop-')),
    });
    const hub = await startHub({
      env,
      catalog: loadCatalog(undefined, 1_000),
      logger: silentLogger,
      roles: [],
      starters: {},
      dbSchema: edgeSchema,
      busPrefix: edgePrefix,
    });
    try {
      // Started by hand so it can be stopped while the HTTP server still runs.
      const edge = await createEdgeStarter({ options: TEST_OPTIONS })({
        ...hub.ctx,
        upgrade: (path, handler) => hub.http.onUpgrade(path, handler),
      });
      const user = await makeUser(hub, 'stopping', { realtime: ['CTA_A'] });
      await setLastValues(hub.ctx.bus, [quote('AAA', 1)]);
      await waitForToken(hub.port, user.token);
      const client = await Client.authenticated(hub.port, user.token);
      await client.subscribe('Q.AAA');
      await publish(hub.ctx.bus, [quote('AAA', 1), quote('AAA', 1)]);
      await until(() => client.events('Q').length === 2, 'quotes');
      await edge.stop();
      expect((await client.waitClosed()).code).toBe(1001);
      const events = (await readUsage(hub.ctx.bus, 'stop-test')).filter((e) => e.user === 'stopping');
      expect(events.map((e) => e.kind).sort()).toEqual([
        'deliveries',
        'first_access',
        'session_close',
        'session_open',
      ]);
      expect(events.find((e) => e.kind === 'session_close')).toMatchObject({ reason: 'shutdown' });
      expect(events.find((e) => e.kind === 'deliveries')).toMatchObject({ count: 2 });
    } finally {
      await hub.stop();
      await hub.ctx.db.query(`drop schema if exists "${edgeSchema}" cascade`).catch(() => undefined);
      await cleanupRedisPrefix(edgePrefix);
    }
  });
});
