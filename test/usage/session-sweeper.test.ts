/**
 * The meter's session sweeper on real Redis slots and both database engines: sessions whose edge
 * died (slot lapsed) are closed as `edge_lost` at their last known instant, live ones are left
 * alone, a late `session_close` still wins, and two sweepers close a session once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { type Bus, openBus } from '../../platform/bus/index.js';
import type { Db } from '../../platform/db/index.js';
import { createMetricsRegistry, type Registry } from '../../platform/metrics.js';
import { EDGE_LOST, startSessionSweeper, type UsageEvent, writeLedger } from '../../usage/index.js';
import { forEachDb, openTestDb, type TestDb } from '../helpers/db.js';
import { cleanupRedisPrefix, REDIS_URL, uniqueName } from '../helpers/services.js';

const prefix = uniqueName('mdhub_sweeper');
let bus: Bus;

beforeAll(async () => {
  bus = await openBus({ url: REDIS_URL, prefix });
});

afterAll(async () => {
  await bus.close();
  await cleanupRedisPrefix(prefix);
});

/** Opened two minutes ago: well past the sweeper's default 30 s age threshold. */
const OPENED = Date.now() - 120_000;
const DAY = new Date(OPENED).toISOString().slice(0, 10);
let ids = 0;

function common(user: string) {
  return { v: 1 as const, id: `ev-${++ids}`, edge: 'edge-a', day: DAY, user, device: null };
}

function opened(user: string, session: string): UsageEvent {
  return { ...common(user), kind: 'session_open', at: OPENED, session };
}

function flushed(user: string, session: string, lastAt: number): UsageEvent {
  return {
    ...common(user),
    kind: 'deliveries',
    at: lastAt + 5,
    session,
    product: 'CTA_A',
    count: 10,
    firstAt: OPENED + 10,
    lastAt,
  };
}

function closed(user: string, session: string, at: number): UsageEvent {
  return { ...common(user), kind: 'session_close', at, session, openedAt: OPENED, reason: 'client' };
}

async function write(db: Db, events: readonly UsageEvent[]): Promise<void> {
  await db.transaction((tx) => writeLedger(tx, events));
}

async function session(db: Db, id: string) {
  const { rows } = await db.query<{ closed_at: string | null; close_reason: string | null }>(
    `select closed_at, close_reason from usage_sessions where edge_id = 'edge-a' and session_id = $1`,
    [id],
  );
  const row = rows[0];
  return row && { closedAt: row.closed_at === null ? null : Number(row.closed_at), reason: row.close_reason };
}

async function counter(registry: Registry): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find(
    (m) => m.name === 'mdhub_meter_sessions_swept_total',
  );
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

/** Holds a slot for a moment, then waits until Redis no longer counts it held: an edge that died. */
async function lapsedSlot(user: string, id: string): Promise<void> {
  await bus.sessions.acquire(user, id, 2, 100);
  while (await bus.sessions.held(user, id)) await sleep(20);
}

forEachDb((engine, getDb) => {
  const sweeper = (db: Db = getDb()) => {
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    // An hour between timed sweeps: these tests call sweep() themselves.
    return { sweeper: startSessionSweeper({ db, bus, metrics, intervalMs: 3_600_000 }), metrics };
  };

  beforeEach(async () => {
    await getDb().query('truncate usage_daily, usage_session_days, usage_sessions, usage_events_seen');
  });

  it('closes an open session whose slot lapsed at its last delivery flush, as edge_lost', async () => {
    const user = `${engine}-u1`;
    await write(getDb(), [opened(user, 's1'), flushed(user, 's1', OPENED + 5_000)]);
    await write(getDb(), [flushed(user, 's1', OPENED + 9_000)]);
    await lapsedSlot(user, 's1');
    const { sweeper: s, metrics } = sweeper();
    expect(await s.sweep()).toBe(1);
    await s.stop();
    expect(await session(getDb(), 's1')).toEqual({ closedAt: OPENED + 9_000, reason: EDGE_LOST });
    expect(await counter(metrics)).toBe(1);
  });

  it('closes a session that never flushed at its opening instant', async () => {
    const user = `${engine}-u2`;
    await write(getDb(), [opened(user, 's2')]);
    const { sweeper: s } = sweeper();
    expect(await s.sweep()).toBe(1);
    await s.stop();
    expect(await session(getDb(), 's2')).toEqual({ closedAt: OPENED, reason: EDGE_LOST });
  });

  it('leaves open a session whose slot is still held, and one younger than the threshold', async () => {
    const user = `${engine}-u3`;
    await write(getDb(), [opened(user, 's3'), { ...opened(user, 'young'), at: Date.now() }]);
    await bus.sessions.acquire(user, 's3', 2, 60_000);
    const { sweeper: s } = sweeper();
    expect(await s.sweep()).toBe(0);
    await s.stop();
    expect(await session(getDb(), 's3')).toEqual({ closedAt: null, reason: null });
    expect(await session(getDb(), 'young')).toEqual({ closedAt: null, reason: null });
    await bus.sessions.release(user, 's3');
  });

  it('lets a session_close that arrives after the sweep set the real close', async () => {
    const user = `${engine}-u4`;
    await write(getDb(), [opened(user, 's4'), flushed(user, 's4', OPENED + 1_000)]);
    const { sweeper: s } = sweeper();
    expect(await s.sweep()).toBe(1);
    await write(getDb(), [closed(user, 's4', OPENED + 50_000)]);
    expect(await session(getDb(), 's4')).toEqual({ closedAt: OPENED + 50_000, reason: 'client' });
    // Closed for real now: a later sweep leaves it alone.
    expect(await s.sweep()).toBe(0);
    await s.stop();
    expect(await session(getDb(), 's4')).toEqual({ closedAt: OPENED + 50_000, reason: 'client' });
  });

  it('reopens a swept session when later usage shows it alive, and sweeps it again at that instant', async () => {
    const user = `${engine}-u5`;
    await write(getDb(), [opened(user, 's5'), flushed(user, 's5', OPENED + 1_000)]);
    const { sweeper: s } = sweeper();
    expect(await s.sweep()).toBe(1);
    // A flush committed after the sweep (a lagging stream) shows the session alive later.
    await write(getDb(), [flushed(user, 's5', OPENED + 20_000)]);
    expect(await session(getDb(), 's5')).toEqual({ closedAt: null, reason: null });
    expect(await s.sweep()).toBe(1);
    await s.stop();
    expect(await session(getDb(), 's5')).toEqual({ closedAt: OPENED + 20_000, reason: EDGE_LOST });
  });

  it('two meters sweeping at once close a session once', async () => {
    // A second connection onto the same database, as a second meter process would have.
    let second: TestDb | undefined;
    const db = getDb();
    if (engine === 'postgres') {
      const { rows } = await db.query<{ schema: string }>('select current_schema() as schema');
      second = await openTestDb('postgres', { schema: rows[0]?.schema, migrated: false });
    }
    try {
      const user = `${engine}-u6`;
      const sessions = Array.from({ length: 40 }, (_, n) => `m${n}`);
      await write(
        db,
        sessions.map((id) => opened(user, id)),
      );
      const a = sweeper(db);
      const b = sweeper(second?.db ?? db);
      const [closedByA, closedByB] = await Promise.all([a.sweeper.sweep(), b.sweeper.sweep()]);
      expect(closedByA + closedByB).toBe(40);
      expect((await counter(a.metrics)) + (await counter(b.metrics))).toBe(40);
      const { rows } = await db.query<{ n: string }>(
        `select count(*) as n from usage_sessions where close_reason = $1 and closed_at = opened_at`,
        [EDGE_LOST],
      );
      expect(Number(rows[0]?.n)).toBe(40);
      // Whatever one skipped because the other held it, the other closed: nothing is left.
      expect(await a.sweeper.sweep()).toBe(0);
      await Promise.all([a.sweeper.stop(), b.sweeper.stop()]);
    } finally {
      // Only the pool: dropping the schema is the first database's cleanup.
      await second?.db.close();
    }
  });

  it('sweeps on its own every intervalMs', async () => {
    const user = `${engine}-u7`;
    await write(getDb(), [opened(user, 's7')]);
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const s = startSessionSweeper({ db: getDb(), bus, metrics, intervalMs: 50 });
    while ((await session(getDb(), 's7'))?.closedAt == null) await sleep(20);
    await s.stop();
    expect(await session(getDb(), 's7')).toEqual({ closedAt: OPENED, reason: EDGE_LOST });
    expect(await counter(metrics)).toBe(1);
  });
});
