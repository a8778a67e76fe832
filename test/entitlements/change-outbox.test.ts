import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  acceptAgreement,
  ChangeRelay,
  createUser,
  ENTITLEMENTS_CHANGED,
  EntitlementCache,
  grant,
  publishChanges,
  readChangeHead,
  revoke,
  setStatus,
} from '../../entitlements/index.js';
import { type Bus, type ControlMessage, openBus } from '../../platform/bus/index.js';
import type { Db } from '../../platform/db/index.js';
import { holdTableLock } from '../../testing/index.js';
import { forEachDb, openTestDb, type TestDb } from '../helpers/db.js';
import { ADMIN, testCatalog } from './fixtures.js';

const catalog = testCatalog();
// Opening and migrating PGlite is slow on a loaded machine.
vi.setConfig({ hookTimeout: 120_000 });

async function entitledUser(db: Db, id: string): Promise<void> {
  await db.transaction(async (tx) => {
    const ctx = { actor: ADMIN, tx, at: Date.now(), catalog };
    await createUser({ ctx, input: { id } });
    await acceptAgreement({ ctx, input: { userId: id, product: 'CTA_A' } });
    await grant({ ctx, input: { userId: id, product: 'CTA_A' } });
  });
}

/** Commits a revocation and publishes nothing, as when the api process dies right after the commit. */
async function revokeUnpublished(db: Db, userId: string): Promise<void> {
  await db.transaction((tx) =>
    revoke({ ctx: { actor: ADMIN, tx, at: Date.now(), catalog }, input: { userId, product: 'CTA_A' } }),
  );
}

async function unpublished(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'select count(*)::int8 as n from entitlement_changes where published_at is null',
  );
  return rows[0]?.n ?? 0;
}

/** Polls until `check` holds; the limit is a liveness bound, not a timing assertion. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The real database, with reads of the change head held at a gate until it opens: lets a test
 * arrange what the cache's next verification finds, without replacing the database.
 */
function gated(db: Db): { db: Db; open: () => void } {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const wrapped: Db = {
    kind: db.kind,
    query: async (text, params) => {
      if (text.includes('from entitlement_change_head')) await gate;
      return db.query(text, params);
    },
    transaction: (fn) => db.transaction(fn),
    ping: () => db.ping(),
    close: () => db.close(),
  };
  return { db: wrapped, open };
}

/**
 * The real database, with each transaction begun after `arm()` held until its turn is released:
 * `release()` lets the next held one (or the next to come) through. Lets a test hold a user's
 * second reload while its first one is in.
 */
function heldLoads(db: Db): { db: Db; arm: () => void; release: () => void; releaseAll: () => void } {
  let armed = false;
  let all = false;
  const turns: Array<() => void> = [];
  let released = 0;
  let begun = 0;
  const wrapped: Db = {
    kind: db.kind,
    query: (text, params) => db.query(text, params),
    transaction: async (fn) => {
      if (armed && !all) {
        const turn = begun++;
        if (turn >= released) await new Promise<void>((resolve) => turns.push(resolve));
      }
      return db.transaction(fn);
    },
    ping: () => db.ping(),
    close: () => db.close(),
  };
  return {
    db: wrapped,
    arm: () => {
      armed = true;
    },
    release: () => {
      released++;
      turns.shift()?.();
    },
    releaseAll: () => {
      all = true;
      for (const turn of turns.splice(0)) turn();
    },
  };
}

forEachDb((_engine, getDb) => {
  let bus: Bus;
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    bus = await openBus();
  });
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  afterAll(async () => {
    await bus.close();
  });

  function startRelay(db: Db = getDb()): ChangeRelay {
    const relay = new ChangeRelay({ db, control: bus.control, sweepMs: 50 });
    stops.push(() => relay.stop());
    relay.start();
    return relay;
  }

  async function startCache(db: Db, verifyIntervalMs: number): Promise<EntitlementCache> {
    const cache = new EntitlementCache({
      db,
      control: bus.control,
      catalog,
      defaultSessionLimit: 2,
      verifyIntervalMs,
    });
    stops.push(() => cache.stop());
    await cache.start();
    return cache;
  }

  it('records every change in the outbox in its own transaction, and nothing for a rolled-back one', async () => {
    const db = getDb();
    const head = await readChangeHead(db);
    await entitledUser(db, 'outbox-1');
    expect(await readChangeHead(db)).toBe(head + 3);
    await expect(
      db.transaction(async (tx) => {
        await setStatus({
          ctx: { actor: ADMIN, tx, at: Date.now() },
          input: { userId: 'outbox-1', status: 'suspended', reason: 'x' },
        });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await readChangeHead(db)).toBe(head + 3);
    const { rows } = await db.query<{ seq: number; user_id: string }>(
      'select seq, user_id from entitlement_changes where seq > $1 order by seq',
      [head],
    );
    expect(rows).toEqual([1, 2, 3].map((n) => ({ seq: head + n, user_id: 'outbox-1' })));
  });

  it('the relay publishes, in seq order, changes a crashed process committed and never published', async () => {
    const db = getDb();
    await publishChanges(db, bus.control);
    await entitledUser(db, 'crash-1');
    await revokeUnpublished(db, 'crash-1');
    expect(await unpublished(db)).toBe(4);

    const messages: ControlMessage[] = [];
    const subscription = await bus.control.subscribe((message) => messages.push(message));
    stops.push(() => subscription.close());
    startRelay();
    await until(() => messages.length === 4, 'the four notices');
    expect(messages.map((m) => [m.type, m.userId])).toEqual(
      Array.from({ length: 4 }, () => ['entitlements.changed', 'crash-1']),
    );
    const seqs = messages.map((m) => m.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.at(-1)).toBe(await readChangeHead(db));
    await until(async () => (await unpublished(db)) === 0, 'the rows marked published');
  });

  it('a cache applies a revocation nobody published, through its own verification', async () => {
    const db = getDb();
    await entitledUser(db, 'poll-1');
    await publishChanges(db, bus.control);
    const cache = await startCache(db, 50);
    expect(cache.decide('poll-1', 'CTA_A', Date.now()).mode).toBe('realtime');
    await revokeUnpublished(db, 'poll-1');
    // On a slow machine the reload may outlast the interval, making the user unverified on the way.
    const decision = () => cache.decide('poll-1', 'CTA_A', Date.now());
    await until(() => decision().reasons.join() === 'no_grant', 'the revocation applied');
    expect(decision()).toEqual({ mode: 'delayed', reasons: ['no_grant'] });
  });

  it("tells the sessions as soon as a reload applies a change, not when the user's last reload is done", async () => {
    const real = getDb();
    await entitledUser(real, 'told-1');
    await publishChanges(real, bus.control);
    const { db, arm, release, releaseAll } = heldLoads(real);
    // Long enough that neither the verification nor the overdue timer acts during the test.
    const cache = await startCache(db, 10_000);
    const told: string[] = [];
    cache.onChange((userId) => {
      if (userId === 'told-1')
        told.push(cache.decide(userId, 'CTA_A', Date.now()).reasons.join() || 'realtime');
    });
    arm();
    const announce = async () =>
      bus.control.publish({
        type: ENTITLEMENTS_CHANGED,
        userId: 'told-1',
        seq: await readChangeHead(real),
        at: Date.now(),
      });
    try {
      // The revocation's reload is held; a second change of the user lands meanwhile, so another
      // reload must follow the first, and that one is held too.
      await revokeUnpublished(real, 'told-1');
      await announce();
      await new Promise((resolve) => setTimeout(resolve, 100));
      await real.transaction((tx) =>
        setStatus({
          ctx: { actor: ADMIN, tx, at: Date.now() },
          input: { userId: 'told-1', status: 'suspended', reason: 'x' },
        }),
      );
      await announce();
      await new Promise((resolve) => setTimeout(resolve, 100));
      // Learning each change told the listeners too (the decision unchanged, a deadline set).
      told.length = 0;
      release();
      await until(() => cache.decide('told-1', 'CTA_A', Date.now()).mode === 'delayed', 'applied');
      // The decision changed: its sessions must be told now, with the second reload still held.
      await until(() => told.length > 0, 'the sessions told', 2_000);
      expect(told[0]).not.toBe('realtime');
    } finally {
      releaseAll();
    }
  });

  it("a learned change's deadline holds by the clock: decided at it, real time is withheld though its timer has not fired", async () => {
    const real = getDb();
    await entitledUser(real, 'deadline-1');
    await publishChanges(real, bus.control);
    const { db, arm, releaseAll } = heldLoads(real);
    // The overdue timer is ten seconds away; only the clock can withhold within this test.
    const cache = await startCache(db, 10_000);
    const told: string[] = [];
    cache.onChange((userId) => told.push(userId));
    expect(cache.verifiedUntil('deadline-1')).toBe(Number.POSITIVE_INFINITY);
    arm();
    try {
      await revokeUnpublished(real, 'deadline-1');
      const at = Date.now();
      await bus.control.publish({
        type: ENTITLEMENTS_CHANGED,
        userId: 'deadline-1',
        seq: await readChangeHead(real),
        at,
      });
      await until(() => Number.isFinite(cache.verifiedUntil('deadline-1')), 'the change learned');
      // Sessions were told, so their send guard re-decides at the deadline.
      expect(told).toContain('deadline-1');
      const deadline = cache.verifiedUntil('deadline-1');
      expect(deadline).toBeLessThanOrEqual(at + 10_000);
      expect(deadline).toBeGreaterThan(Date.now());
      // The reload is held: until the deadline the copy in memory is still real time; from it on,
      // unverified, decided by the instant asked about and not by whether the timer ran.
      expect(cache.decide('deadline-1', 'CTA_A', deadline - 1).mode).toBe('realtime');
      expect(cache.decide('deadline-1', 'CTA_A', deadline)).toEqual({
        mode: 'delayed',
        reasons: ['unverified'],
      });
      expect(cache.verifiedUntil('someone-else')).toBe(Number.POSITIVE_INFINITY);
    } finally {
      releaseAll();
    }
    await until(
      () => cache.decide('deadline-1', 'CTA_A', Date.now()).reasons.join() === 'no_grant',
      'applied',
    );
    expect(cache.verifiedUntil('deadline-1')).toBe(Number.POSITIVE_INFINITY);
  });

  it('an edge behind changes already pruned reloads everything instead of missing them', async () => {
    const real = getDb();
    await entitledUser(real, 'pruned-1');
    await publishChanges(real, bus.control);
    const { db, open } = gated(real);
    const cache = await startCache(db, 50);
    expect(cache.decide('pruned-1', 'CTA_A', Date.now()).mode).toBe('realtime');
    await revokeUnpublished(real, 'pruned-1');
    // Published where this cache does not listen, then pruned: no row is left to list.
    const elsewhere = await openBus();
    stops.push(() => elsewhere.close());
    await publishChanges(real, elsewhere.control);
    await new ChangeRelay({ db: real, control: elsewhere.control, retentionMs: -60_000 }).sweep();
    const { rows } = await real.query<{ n: number }>('select count(*)::int8 as n from entitlement_changes');
    expect(rows[0]?.n).toBe(0);
    // Held at the gate, the cache could not verify: real time was withheld meanwhile.
    await until(() => !cache.verified, 'real time withheld while unverified');
    open();
    const reasons = () => cache.decide('pruned-1', 'CTA_A', Date.now()).reasons;
    await until(() => reasons().length === 1 && reasons()[0] === 'no_grant', 'the revocation applied');
    expect(cache.verified).toBe(true);
  });
});

describe('postgres: a cache that cannot verify', () => {
  let testDb: TestDb;
  let locker: TestDb;
  let bus: Bus;
  let cache: EntitlementCache | undefined;

  beforeAll(async () => {
    testDb = await openTestDb('postgres');
    locker = await openTestDb('postgres', { schema: testDb.schema, migrated: false });
    bus = await openBus();
  });
  afterAll(async () => {
    await cache?.stop();
    await bus.close();
    await locker.db.close();
    await testDb.cleanup();
  });

  it('withholds real time from everyone while the change head stays locked, and resumes after', async () => {
    const db = testDb.db;
    await entitledUser(db, 'locked-1');
    cache = new EntitlementCache({
      db,
      control: bus.control,
      catalog,
      defaultSessionLimit: 2,
      verifyIntervalMs: 50,
    });
    await cache.start();
    expect(cache.decide('locked-1', 'CTA_A', Date.now()).mode).toBe('realtime');

    const lock = await holdTableLock(locker.db, 'entitlement_change_head');
    const edge = cache;
    await until(() => !edge.verified, 'real time withheld');
    expect(edge.decide('locked-1', 'CTA_A', Date.now())).toEqual({
      mode: 'delayed',
      reasons: ['unverified'],
    });
    await lock.release();
    await until(() => edge.verified, 'verified again');
    expect(edge.decide('locked-1', 'CTA_A', Date.now()).mode).toBe('realtime');
  });

  it('withholds real time only from users whose changes are stuck behind locked tables, however many', async () => {
    await cache?.stop();
    const db = testDb.db;
    await entitledUser(db, 'bystander');
    const stuck = Array.from({ length: 15 }, (_, i) => `stuck-${i}`);
    for (const id of stuck) await entitledUser(db, id);
    const edge = new EntitlementCache({
      db,
      control: bus.control,
      catalog,
      defaultSessionLimit: 2,
      verifyIntervalMs: 50,
    });
    cache = edge;
    await edge.start();

    // What the edge reads to reload a user, and a revocation does not write.
    const lock = await holdTableLock(locker.db, 'attestations, agreements, user_tokens');
    // More stuck reloads than the edge's pool has connections; revoked through another pool.
    for (const id of stuck) await revokeUnpublished(locker.db, id);
    await until(
      () => stuck.every((id) => edge.decide(id, 'CTA_A', Date.now()).reasons.includes('unverified')),
      'every stuck user withheld',
    );
    // Well past twice the interval: had the head check starved, everyone would be withheld by now.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(edge.verified).toBe(true);
    expect(edge.decide('bystander', 'CTA_A', Date.now()).mode).toBe('realtime');

    await lock.release();
    await until(
      () => stuck.every((id) => edge.decide(id, 'CTA_A', Date.now()).reasons.join() === 'no_grant'),
      'every revocation applied',
    );
  });

  it('withholds real time at once from a user whose change is learned after its own time to apply has run out', async () => {
    await cache?.stop();
    const db = testDb.db;
    await entitledUser(db, 'learned-late');
    // An interval long enough that only the change's own instant can explain a prompt withholding.
    const edge = new EntitlementCache({
      db,
      control: bus.control,
      catalog,
      defaultSessionLimit: 2,
      verifyIntervalMs: 5_000,
    });
    cache = edge;
    await edge.start();
    expect(edge.decide('learned-late', 'CTA_A', Date.now()).mode).toBe('realtime');

    // The reload cannot finish, and the notice arrives long after the change it announces.
    const lock = await holdTableLock(locker.db, 'attestations, agreements, user_tokens');
    try {
      await revokeUnpublished(locker.db, 'learned-late');
      const late: ControlMessage = {
        type: ENTITLEMENTS_CHANGED,
        userId: 'learned-late',
        seq: await readChangeHead(locker.db),
        at: Date.now() - 10_000,
      };
      await bus.control.publish(late);
      await until(
        () => edge.decide('learned-late', 'CTA_A', Date.now()).reasons.includes('unverified'),
        'withheld at once',
        2_000,
      );
    } finally {
      await lock.release();
    }
    await until(
      () => edge.decide('learned-late', 'CTA_A', Date.now()).reasons.join() === 'no_grant',
      'applied',
    );
  });
});
