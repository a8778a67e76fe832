/**
 * Revocations that the change feed fails to carry: a Redis that refuses writes when the notice is
 * published (`maxmemory 1`, on a redis-server of this file's own), and tables the edge cannot read
 * when the notice arrives (locked from a second PostgreSQL connection).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../app/hub.js';
import { DrillRedis } from '../../drill/redis.js';
import { ChangeRelay, revoke } from '../../entitlements/index.js';
import { holdTableLock } from '../../testing/index.js';
import { ENGINES, type Engine, openTestDb, type TestDb } from '../helpers/db.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { ADMIN, Client, quote, revokeGrant, until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mdhub-revocation-'));
let redis: DrillRedis;
const fixtures: DistributionFixture[] = [];
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  redis = await DrillRedis.start(dir, 'none');
}, 30_000);
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
  for (const fx of fixtures.splice(0)) await fx.close();
});
afterAll(async () => {
  await redis?.child.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` with the private Redis refusing every write, as a full or read-only Redis does. */
async function refusingWrites(body: () => Promise<void>): Promise<void> {
  const admin = await createClient({ url: redis.url }).connect();
  try {
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    try {
      await body();
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']);
    }
  } finally {
    await admin.close();
  }
}

async function unpublished(hub: Hub): Promise<number> {
  const { rows } = await hub.ctx.db.query<{ n: number }>(
    'select count(*)::int8 as n from entitlement_changes where published_at is null',
  );
  return rows[0]?.n ?? 0;
}

async function edgeOn(engine: Engine, verifyMs: number): Promise<DistributionFixture> {
  const fx = await distributionFixture({
    name: 'revoke',
    env: {
      REDIS_URL: redis.url,
      MDHUB_ENTITLEMENT_VERIFY_MS: String(verifyMs),
      ...(engine === 'pglite' ? { DATABASE_URL: '', MDHUB_DATA_DIR: mkdtempSync(join(dir, 'data-')) } : {}),
    },
    lastValues: [quote('AAA', 1)],
  });
  fixtures.push(fx);
  return fx;
}

/** A user streaming Q.AAA in real time, and the revocation committed while Redis refuses writes. */
async function revokedWhilePublishFails(
  fx: DistributionFixture,
  userId: string,
): Promise<{ token: string; client: Client }> {
  const hub = fx.hub;
  const user = await fx.user(userId, { realtime: ['CTA_A'] });
  const client = await Client.authenticated(hub.port, user.token);
  expect((await client.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });
  await refusingWrites(async () => {
    await revokeGrant(hub, userId, 'CTA_A');
    expect(await unpublished(hub)).toBe(1);
  });
  return { token: user.token, client };
}

async function expectRevokedEverywhere(hub: Hub, open: Client, token: string): Promise<void> {
  await open.waitFor((m) => m.status === 'mode' && m.mode === 'delayed' && m.reason === 'no_grant', 15_000);
  const fresh = await Client.authenticated(hub.port, token);
  expect((await fresh.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed', reason: 'no_grant' });
}

describe.each(ENGINES)('%s: a revocation whose notice could not be published', (engine) => {
  it('reaches the open session and new ones through the relay once Redis takes writes again', async () => {
    // Verification far slower than the test: only the relay can tell this edge.
    const fx = await edgeOn(engine, 60_000);
    const hub = fx.hub;
    const { token, client } = await revokedWhilePublishFails(fx, 'relayed');
    const relay = new ChangeRelay({ db: hub.ctx.db, control: hub.ctx.bus.control, sweepMs: 100 });
    stops.push(() => relay.stop());
    relay.start();
    await expectRevokedEverywhere(hub, client, token);
    expect(await unpublished(hub)).toBe(0);
  }, 120_000);

  it('reaches the open session and new ones through the edge verification, with no relay at all', async () => {
    const fx = await edgeOn(engine, 100);
    const hub = fx.hub;
    const { token, client } = await revokedWhilePublishFails(fx, 'polled');
    await expectRevokedEverywhere(hub, client, token);
    expect(await unpublished(hub)).toBe(1);
  }, 120_000);
});

describe('postgres: a revocation notice the edge cannot apply', () => {
  let locker: TestDb | undefined;
  afterAll(async () => {
    await locker?.db.close();
  });

  it('makes the user unverified, with no real time on open or new sessions, until the tables unlock', async () => {
    const fx = await distributionFixture({
      name: 'lock',
      env: { MDHUB_ENTITLEMENT_VERIFY_MS: '100' },
      lastValues: [quote('AAA', 1)],
    });
    fixtures.push(fx);
    const hub = fx.hub;
    const user = await fx.user('locked-out', { realtime: ['CTA_A'] });
    const client = await Client.authenticated(hub.port, user.token);
    expect((await client.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });

    locker = await openTestDb('postgres', { schema: fx.schema, migrated: false });
    // Tables the edge reads a user from and the revocation does not write, so it still commits.
    const lock = await holdTableLock(locker.db, 'attestations, agreements, user_tokens');
    try {
      await hub.ctx.db.transaction((tx) =>
        revoke({
          ctx: { actor: ADMIN, tx, at: Date.now(), catalog: hub.ctx.catalog },
          input: { userId: 'locked-out', product: 'CTA_A' },
        }),
      );
      await client.waitFor(
        (m) => m.status === 'mode' && m.mode === 'delayed' && m.reason === 'unverified',
        15_000,
      );
      const fresh = await Client.authenticated(hub.port, user.token);
      expect((await fresh.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed', reason: 'unverified' });
      expect(client.statuses().some((m) => m.reason === 'no_grant')).toBe(false);
    } finally {
      await lock.release();
    }
    await client.waitFor(
      (m) => m.status === 'mode' && m.mode === 'delayed' && m.reason === 'no_grant',
      15_000,
    );
    await until(() => client.statuses().at(-1)?.reason === 'no_grant', 'the revocation applied');
  }, 120_000);
});
