import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  acceptAgreement,
  createUser,
  EntitlementCache,
  grant,
  issueToken,
  publishChanges,
  revokeToken,
  setStatus,
  type VerbOutcome,
} from '../../entitlements/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { type Bus, type ControlChannel, openBus } from '../../platform/bus/index.js';
import type { Db } from '../../platform/db/index.js';
import { forEachDb, openTestDb, type TestDb } from '../helpers/db.js';
import { cleanupRedisPrefix, killRedisConnections, REDIS_URL, uniqueName } from '../helpers/services.js';
import { ADMIN, testCatalog } from './fixtures.js';

const catalog = testCatalog();

/** A Db that counts every statement sent to it, to prove the cache's queries do not grow with users. */
function counting(db: Db): { db: Db; count: () => number } {
  let n = 0;
  const wrapped: Db = {
    kind: db.kind,
    query: (text, params) => {
      n++;
      return db.query(text, params);
    },
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: (text, params) => {
            n++;
            return tx.query(text, params);
          },
        }),
      ),
    ping: () => db.ping(),
    close: () => db.close(),
  };
  return { db: wrapped, count: () => n };
}

/** Runs a verb at the wall-clock instant and publishes its change after the commit, as the routes do. */
async function change<T>(
  db: Db,
  control: ControlChannel,
  verb: (ctx: VerbContext) => Promise<VerbOutcome<T>>,
): Promise<T> {
  const outcome = await db.transaction((tx) => verb({ actor: ADMIN, tx, at: Date.now() }));
  await publishChanges(db, control);
  return outcome.value;
}

/**
 * Resolves with the next `onChange` for `userId` that follows a reload (none of the user's changes
 * still pending: learning one tells listeners too); rejects after `ms` (a liveness bound, not a
 * timing assertion).
 */
function nextChange(cache: EntitlementCache, userId: string, ms = 5_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no onChange for ${userId} within ${ms} ms`));
    }, ms);
    const off = cache.onChange((changed) => {
      if (changed !== userId || Number.isFinite(cache.verifiedUntil(userId))) return;
      clearTimeout(timer);
      off();
      resolve(Date.now());
    });
  });
}

async function entitledUser(db: Db, id: string, validTo?: number, validFrom?: number): Promise<void> {
  await db.transaction(async (tx) => {
    const ctx = { actor: ADMIN, tx, at: Date.now(), catalog };
    await createUser({ ctx, input: { id } });
    await acceptAgreement({ ctx, input: { userId: id, product: 'CTA_A' } });
    await grant({ ctx, input: { userId: id, product: 'CTA_A', validTo, validFrom } });
  });
}

forEachDb((_engine, getDb) => {
  let bus: Bus;
  const caches: EntitlementCache[] = [];

  beforeAll(async () => {
    bus = await openBus();
  });
  afterEach(async () => {
    for (const cache of caches.splice(0)) await cache.stop();
  });
  afterAll(async () => {
    await bus.close();
  });

  async function startCache(
    db: Db = getDb(),
    control: ControlChannel = bus.control,
  ): Promise<EntitlementCache> {
    const cache = new EntitlementCache({ db, control, catalog, defaultSessionLimit: 2 });
    caches.push(cache);
    await cache.start();
    return cache;
  }

  it('loads every user and token in a fixed number of queries, then decides without any', async () => {
    const db = getDb();
    for (let i = 0; i < 25; i++) await entitledUser(db, `bulk-${i}`);
    const token = await change(db, bus.control, (ctx) =>
      issueToken({ ctx, input: { userId: 'bulk-3', deviceId: 'd-3' } }),
    );
    const { db: counted, count } = counting(db);
    const cache = await startCache(counted);
    const loadQueries = count();
    expect(loadQueries).toBeLessThanOrEqual(7);
    expect(cache.size).toBeGreaterThanOrEqual(25);
    for (let i = 0; i < 25; i++) expect(cache.decide(`bulk-${i}`, 'CTA_A', Date.now()).mode).toBe('realtime');
    expect(cache.decide('bulk-1', 'CTA_B', Date.now())).toEqual({ mode: 'delayed', reasons: ['no_grant'] });
    expect(cache.decide('bulk-1', 'CTA_A', Date.now(), 3)).toEqual({
      mode: 'delayed',
      reasons: ['session_limit'],
    });
    expect(cache.decide('nobody', 'CTA_A', Date.now())).toEqual({
      mode: 'refused',
      reasons: ['unknown_user'],
    });
    expect(cache.authenticate(token.token)).toEqual({ userId: 'bulk-3', deviceId: 'd-3' });
    expect(cache.authenticate('mdu_wrong')).toBeUndefined();
    expect(cache.authenticate('')).toBeUndefined();
    expect(count()).toBe(loadQueries);
  });

  it('applies a change from the feed: reloads the user, then tells listeners', async () => {
    const db = getDb();
    await entitledUser(db, 'feed-1');
    const cache = await startCache();
    expect(cache.decide('feed-1', 'CTA_A', Date.now()).mode).toBe('realtime');

    const suspended = nextChange(cache, 'feed-1');
    await change(db, bus.control, (ctx) =>
      setStatus({ ctx, input: { userId: 'feed-1', status: 'suspended', reason: 'test' } }),
    );
    await suspended;
    expect(cache.decide('feed-1', 'CTA_A', Date.now())).toEqual({ mode: 'delayed', reasons: ['suspended'] });

    const created = nextChange(cache, 'feed-new');
    await change(db, bus.control, (ctx) => createUser({ ctx, input: { id: 'feed-new' } }));
    await created;
    expect(cache.decide('feed-new', 'CTA_A', Date.now()).reasons).toEqual(['no_grant', 'agreement_missing']);
  });

  it('stops authenticating a revoked token once the change arrives', async () => {
    const db = getDb();
    await entitledUser(db, 'tok-1');
    const cache = await startCache();
    const issued = nextChange(cache, 'tok-1');
    const token = await change(db, bus.control, (ctx) => issueToken({ ctx, input: { userId: 'tok-1' } }));
    await issued;
    expect(cache.authenticate(token.token)).toEqual({ userId: 'tok-1' });
    const revoked = nextChange(cache, 'tok-1');
    await change(db, bus.control, (ctx) =>
      revokeToken({ ctx, input: { userId: 'tok-1', tokenId: token.id } }),
    );
    await revoked;
    expect(cache.authenticate(token.token)).toBeUndefined();
  });

  it('downgrades a user whose grant expires at its validTo, with no API call', async () => {
    const db = getDb();
    const validTo = Date.now() + 400;
    await entitledUser(db, 'exp-1', validTo);
    const cache = await startCache();
    expect(cache.decide('exp-1', 'CTA_A', Date.now()).mode).toBe('realtime');
    const firedAt = await nextChange(cache, 'exp-1');
    expect(firedAt).toBeGreaterThanOrEqual(validTo);
    expect(cache.decide('exp-1', 'CTA_A', Date.now())).toEqual({
      mode: 'delayed',
      reasons: ['grant_expired'],
    });
  });

  it('upgrades a user whose grant starts later, at its validFrom', async () => {
    const db = getDb();
    const validFrom = Date.now() + 400;
    await entitledUser(db, 'start-1', undefined, validFrom);
    const cache = await startCache();
    expect(cache.decide('start-1', 'CTA_A', Date.now()).reasons).toEqual(['grant_not_started']);
    const firedAt = await nextChange(cache, 'start-1');
    expect(firedAt).toBeGreaterThanOrEqual(validFrom);
    expect(cache.decide('start-1', 'CTA_A', Date.now()).mode).toBe('realtime');
  });

  it('reloads everything when the bus says messages may have been missed', async () => {
    const db = getDb();
    await entitledUser(db, 'resync-1');
    let resync: (() => void) | undefined;
    const control: ControlChannel = {
      publish: (message) => bus.control.publish(message),
      subscribe: (handler, options) => {
        resync = options?.onResync;
        return bus.control.subscribe(handler);
      },
    };
    const cache = await startCache(db, control);
    // Changed without publishing, as if the message were lost while the bus reconnected.
    await db.transaction((tx) =>
      setStatus({
        ctx: { actor: ADMIN, tx, at: Date.now() },
        input: { userId: 'resync-1', status: 'suspended', reason: 'x' },
      }),
    );
    expect(cache.decide('resync-1', 'CTA_A', Date.now()).mode).toBe('realtime');
    const reloaded = nextChange(cache, 'resync-1');
    resync?.();
    await reloaded;
    expect(cache.decide('resync-1', 'CTA_A', Date.now()).reasons).toEqual(['suspended']);
  });

  it('tells nothing to listeners after stop', async () => {
    const db = getDb();
    await entitledUser(db, 'stop-1', Date.now() + 200);
    const cache = await startCache();
    const seen: string[] = [];
    cache.onChange((userId) => seen.push(userId));
    await cache.stop();
    await change(db, bus.control, (ctx) =>
      setStatus({ ctx, input: { userId: 'stop-1', status: 'suspended', reason: 'x' } }),
    );
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(seen).toEqual([]);
  });
});

describe('change feed over Redis', () => {
  let testDb: TestDb;
  const prefix = uniqueName('ent');
  const buses: Bus[] = [];
  const caches: EntitlementCache[] = [];

  beforeAll(async () => {
    testDb = await openTestDb('postgres');
  });
  afterAll(async () => {
    for (const cache of caches) await cache.stop();
    for (const bus of buses) await bus.close();
    await testDb.cleanup();
    await cleanupRedisPrefix(prefix);
  });

  it('reaches a cache in another process-like instance, which re-decides', async () => {
    const [busA, busB] = await Promise.all([
      openBus({ url: REDIS_URL, prefix }),
      openBus({ url: REDIS_URL, prefix }),
    ]);
    buses.push(busA!, busB!);
    const db = testDb.db;
    await entitledUser(db, 'redis-1');
    const edge = new EntitlementCache({ db, control: busB!.control, catalog, defaultSessionLimit: 2 });
    caches.push(edge);
    await edge.start();
    expect(edge.decide('redis-1', 'CTA_A', Date.now()).mode).toBe('realtime');

    const arrived = nextChange(edge, 'redis-1');
    await change(db, busA!.control, (ctx) =>
      setStatus({ ctx, input: { userId: 'redis-1', status: 'suspended', reason: 'x' } }),
    );
    await arrived;
    expect(edge.decide('redis-1', 'CTA_A', Date.now())).toEqual({ mode: 'delayed', reasons: ['suspended'] });
  });

  it('withholds real time from the moment the feed drops until a reload confirms it', async () => {
    const bus = await openBus({ url: REDIS_URL, prefix });
    buses.push(bus);
    const db = testDb.db;
    await entitledUser(db, 'redis-2');
    const edge = new EntitlementCache({ db, control: bus.control, catalog, defaultSessionLimit: 2 });
    caches.push(edge);
    await edge.start();
    expect(edge.decide('redis-2', 'CTA_A', Date.now()).mode).toBe('realtime');

    const modes: string[] = [];
    const off = edge.onChange((userId) => {
      if (userId === 'redis-2') modes.push(edge.decide(userId, 'CTA_A', Date.now()).mode);
    });
    expect(await killRedisConnections(`${prefix}:control:subscriber`)).toBeGreaterThan(0);
    await until(() => modes.includes('delayed'), 'the downgrade on feed loss');
    expect(modes[0]).toBe('delayed');
    await until(() => modes.at(-1) === 'realtime', 'real time again after the reload');
    off();
    expect(edge.verified).toBe(true);
  });
});

/** Polls until `check` holds; the limit is a liveness bound, not a timing assertion. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
