import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { type Bus, openBus } from '../../platform/bus/index.js';
import type { Db } from '../../platform/db/index.js';
import { createMetricsRegistry, type Registry } from '../../platform/metrics.js';
import {
  decodeUsageEntry,
  METER_GROUP,
  type Meter,
  runMeter,
  type UsageEvent,
  writeLedger,
} from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { PrivateRedis } from '../helpers/private-redis.js';
import { cleanupRedisPrefix, REDIS_URL, uniqueName } from '../helpers/services.js';
import { dumpLedger, scriptEvents } from './ledger-script.js';

const EVENTS = scriptEvents();
const encode = (events: readonly UsageEvent[]) => events.map((event) => JSON.stringify(event));

const opened: Array<{ bus: Bus; prefix: string; meters: Meter[] }> = [];

async function redisBus(): Promise<{ bus: Bus; prefix: string; meters: Meter[] }> {
  const prefix = uniqueName('mdhub_ledger');
  const bus = await openBus({ url: REDIS_URL, prefix });
  const entry = { bus, prefix, meters: [] as Meter[] };
  opened.push(entry);
  return entry;
}

afterEach(async () => {
  for (const { bus, prefix, meters } of opened.splice(0)) {
    for (const meter of meters) await meter.stop();
    await bus.close();
    await cleanupRedisPrefix(prefix);
  }
});

async function resetLedger(db: Db): Promise<void> {
  await db.query(
    'truncate usage_daily, usage_session_days, usage_sessions, usage_events_seen, usage_dead_letters',
  );
}

/** Waits until every usage entry has been acknowledged (acknowledged entries leave the stream). */
async function drained(bus: Bus, timeoutMs = 15_000): Promise<void> {
  const stream = bus.work('usage');
  const deadline = Date.now() + timeoutMs;
  while ((await stream.length()) > 0 || (await stream.pendingCount(METER_GROUP)) > 0) {
    if (Date.now() > deadline) throw new Error('the meters did not drain the usage stream in time');
    await sleep(25);
  }
}

async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

/**
 * Another transaction inserts `id` into the seen ids and holds it uncommitted until `release()`,
 * then rolls back: a batch with that id waits for it in its commit.
 */
async function holdEventId(db: Db, id: string): Promise<{ release: () => void; holder: Promise<void> }> {
  let release = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let holding = false;
  const holder = db
    .transaction(async (tx) => {
      await tx.query('insert into usage_events_seen (id, at) values ($1, 0)', [id]);
      holding = true;
      await held;
      throw new Error('rolled back on purpose');
    })
    .catch(() => undefined);
  await until(async () => holding);
  return { release, holder };
}

async function counter(registry: Registry, name: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}

const FAST = { blockMs: 50, claimMinIdleMs: 300, claimEveryMs: 100, retryMs: 50 };

forEachDb((engine, getDb) => {
  /** The ledger the script gives when every event is written exactly once, in one batch. */
  let reference: unknown;

  beforeAll(async () => {
    const db = getDb();
    await db.transaction((tx) => writeLedger(tx, EVENTS));
    reference = await dumpLedger(db);
    await resetLedger(db);
  });

  afterEach(async () => {
    await resetLedger(getDb());
  });

  it('keeps per device and day the first and last real-time access, deliveries, queries and sessions', async () => {
    const db = getDb();
    await db.transaction((tx) => writeLedger(tx, EVENTS));
    const { rows } = await db.query(
      `select product, day, user_id, device_id, first_realtime_at, last_realtime_at, deliveries, queries,
          realtime_queries, sessions from usage_daily where user_id in ('alice', 'erin') order by product, day, user_id, device_id`,
    );
    const at = (iso: string) => Date.parse(iso);
    const row = (
      product: string,
      day: string,
      user: string,
      device: string,
      first: string | null,
      last: string | null,
      deliveries: number,
      queries: number,
      realtimeQueries: number,
      sessions: number,
    ) => ({
      product,
      day,
      user_id: user,
      device_id: device,
      first_realtime_at: first === null ? null : at(first),
      last_realtime_at: last === null ? null : at(last),
      deliveries,
      queries,
      realtime_queries: realtimeQueries,
      sessions,
    });
    expect(rows).toEqual([
      // Two sessions on two edges (a reconnect) the same day; the second first-access is the same event.
      row(
        'CTA_A',
        '2026-03-02',
        'alice',
        'alice-phone',
        '2026-03-02T09:30:00Z',
        '2026-03-02T10:45:00Z',
        170,
        0,
        0,
        2,
      ),
      row(
        'CTA_A',
        '2026-03-03',
        'alice',
        'alice-web',
        '2026-03-03T14:00:00Z',
        '2026-03-03T14:30:00Z',
        10,
        0,
        0,
        1,
      ),
      // The session across the month end counts on both days.
      row(
        'CTA_A',
        '2026-03-31',
        'alice',
        'alice-phone',
        '2026-03-31T23:58:30Z',
        '2026-03-31T23:59:59Z',
        4,
        0,
        0,
        1,
      ),
      row(
        'CTA_A',
        '2026-04-01',
        'alice',
        'alice-phone',
        '2026-04-01T00:00:02Z',
        '2026-04-01T00:04:00Z',
        6,
        0,
        0,
        1,
      ),
      row(
        'CTA_B',
        '2026-02-28',
        'erin',
        'erin-laptop',
        '2026-02-28T23:51:00Z',
        '2026-02-28T23:59:59Z',
        9,
        0,
        0,
        1,
      ),
      row(
        'CTA_B',
        '2026-03-01',
        'erin',
        'erin-laptop',
        '2026-03-01T00:00:10Z',
        '2026-03-01T00:29:50Z',
        20,
        0,
        0,
        1,
      ),
      row(
        'CTA_B',
        '2026-03-11',
        'erin',
        'erin-laptop',
        '2026-03-11T16:00:00Z',
        '2026-03-11T16:19:30Z',
        0,
        40,
        40,
        0,
      ),
      row(
        'UTP',
        '2026-03-05',
        'alice',
        'alice-phone',
        '2026-03-05T08:00:05Z',
        '2026-03-05T08:09:00Z',
        5,
        0,
        0,
        1,
      ),
      // A delayed snapshot is a query, not real-time access.
      row('UTP', '2026-03-06', 'alice', 'alice-web', null, null, 0, 1, 0, 0),
    ]);
    const sessions = await db.query(
      "select opened_at, closed_at, close_reason from usage_sessions where edge_id = 'e2' and session_id = 'r1'",
    );
    expect(sessions.rows).toEqual([
      {
        opened_at: at('2026-02-28T23:50:00Z'),
        closed_at: at('2026-03-01T00:30:00Z'),
        close_reason: 'client',
      },
    ]);
  });

  it('counts a duplicated or replayed event once, in the same batch or a later one', async () => {
    const db = getDb();
    const shuffled = [...EVENTS].reverse();
    const first = await db.transaction((tx) => writeLedger(tx, [...EVENTS, ...shuffled]));
    // The two first accesses alice's reconnect sends share one id: one of them is a duplicate.
    expect(first.counted.length).toBe(EVENTS.length - 1);
    const replay = await db.transaction((tx) =>
      writeLedger(
        tx,
        EVENTS.filter((_, i) => i % 3 === 0),
      ),
    );
    expect(replay.counted).toEqual([]);
    expect(await dumpLedger(db)).toEqual(reference);
  });

  it('counts only the new events of a batch mixing them with events seen before and copies of both', async () => {
    const db = getDb();
    const half = EVENTS.filter((_, i) => i % 2 === 0);
    await db.transaction((tx) => writeLedger(tx, half));
    const mixed = [...EVENTS, ...half, ...[...EVENTS].reverse()];
    const second = await db.transaction((tx) => writeLedger(tx, mixed));
    const seenBefore = new Set(half.map((e) => e.id));
    const expected = new Set(EVENTS.filter((e) => !seenBefore.has(e.id)).map((e) => e.id));
    expect(new Set(second.counted.map((e) => e.id))).toEqual(expected);
    expect(second.duplicates).toBe(mixed.length - expected.size);
    expect(await dumpLedger(db)).toEqual(reference);
  });

  it('meters events from Redis into the ledger, each once, however often the edges sent them', async () => {
    const db = getDb();
    const { bus, meters } = await redisBus();
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    const stream = bus.work('usage');
    await stream.add(encode(EVENTS));
    await stream.add(encode([...EVENTS].reverse()));
    meters.push(await runMeter({ db, bus, metrics, batchSize: 64, ...FAST }));
    await drained(bus);
    await stream.add(encode(EVENTS.slice(0, 40)));
    await drained(bus);
    expect(await dumpLedger(db)).toEqual(reference);
    expect(await counter(metrics, 'mdhub_meter_events_total')).toBe(EVENTS.length - 1);
    expect(await counter(metrics, 'mdhub_meter_duplicates_total')).toBe(EVENTS.length + 1 + 40);
  });

  it('takes over the events a meter read and died with before committing', async () => {
    const db = getDb();
    const { bus, meters } = await redisBus();
    const stream = bus.work('usage');
    await stream.ensureGroup(METER_GROUP);
    await stream.add(encode(EVENTS));
    const dead = stream.consumer(METER_GROUP, 'meter-killed');
    const taken = await dead.read({ count: 60, blockMs: 0 });
    expect(taken).toHaveLength(60);
    await dead.close();

    const metrics = createMetricsRegistry({ defaultMetrics: false });
    meters.push(await runMeter({ db, bus, metrics, batchSize: 50, ...FAST }));
    await drained(bus);
    expect(await dumpLedger(db)).toEqual(reference);
    expect(await counter(metrics, 'mdhub_meter_claimed_total')).toBe(60);
  });

  it('renews a batch it is still committing, so another meter does not take it meanwhile', async () => {
    const db = getDb();
    const { bus, meters } = await redisBus();
    const stream = bus.work('usage');
    await stream.ensureGroup(METER_GROUP);
    // Another transaction holds one of the batch's event ids: the meter's commit waits for it,
    // for over three claim times.
    const { release, holder } = await holdEventId(db, EVENTS[0]!.id);
    const slowMetrics = createMetricsRegistry({ defaultMetrics: false });
    meters.push(await runMeter({ db, bus, metrics: slowMetrics, batchSize: EVENTS.length, ...FAST }));
    await stream.add(encode(EVENTS));
    await until(async () => (await stream.pendingCount(METER_GROUP)) > 0);
    const otherMetrics = createMetricsRegistry({ defaultMetrics: false });
    meters.push(await runMeter({ db, bus, metrics: otherMetrics, batchSize: EVENTS.length, ...FAST }));
    await sleep(4 * FAST.claimMinIdleMs);
    release();
    await holder;
    await drained(bus);
    // The other meter may read what the first had not (a later read), never take its batch.
    expect(await counter(otherMetrics, 'mdhub_meter_claimed_total')).toBe(0);
    expect(await counter(slowMetrics, 'mdhub_meter_claimed_total')).toBe(0);
    expect(await dumpLedger(db)).toEqual(reference);
  });

  // PGlite is one connection: its transactions run one after another.
  it.runIf(engine === 'postgres')(
    'commits the batches after one that waits, and acknowledges each batch only after its own commit',
    async () => {
      const db = getDb();
      const { bus, meters } = await redisBus();
      const stream = bus.work('usage');
      await stream.ensureGroup(METER_GROUP);
      const queries = Array.from(
        { length: 60 },
        (_, i): UsageEvent => ({
          v: 1,
          id: `wait-${String(i).padStart(2, '0')}`,
          kind: 'query',
          edge: 'e1',
          at: Date.UTC(2026, 9, 1, 12),
          day: '2026-10-01',
          user: `u${i % 7}`,
          device: null,
          product: 'CTA_A',
          symbol: 'IBM',
          type: 'Q',
          mode: 'delayed',
          requestId: `r${i}`,
        }),
      );
      await stream.add(encode(queries));
      // Another transaction holds an id of the first batch: that batch's commit waits for it.
      const { release, holder } = await holdEventId(db, queries[0]!.id);
      const queried = async () =>
        (await db.query<{ n: number }>('select coalesce(sum(queries), 0)::int as n from usage_daily'))
          .rows[0]!.n;
      meters.push(await runMeter({ db, bus, batchSize: 20, ...FAST }));
      // The two batches after it commit meanwhile and leave the stream; the waiting one stays pending.
      await until(async () => (await stream.length()) === 20);
      expect(await stream.pendingCount(METER_GROUP)).toBe(20);
      expect(await queried()).toBe(40);
      release();
      await holder;
      await drained(bus);
      expect(await queried()).toBe(60);
    },
  );

  it('does not count twice the events a meter committed and died with before acknowledging', async () => {
    const db = getDb();
    const { bus, meters } = await redisBus();
    const stream = bus.work('usage');
    await stream.ensureGroup(METER_GROUP);
    await stream.add(encode(EVENTS));
    const dead = stream.consumer(METER_GROUP, 'meter-killed');
    const taken = await dead.read({ count: 60, blockMs: 0 });
    const decoded = taken.map((entry) => decodeUsageEntry(entry.payload));
    await db.transaction((tx) =>
      writeLedger(
        tx,
        decoded.flatMap((d) => (d.ok ? [d.event] : [])),
      ),
    );
    await dead.close();

    const metrics = createMetricsRegistry({ defaultMetrics: false });
    meters.push(await runMeter({ db, bus, metrics, batchSize: 50, ...FAST }));
    await drained(bus);
    expect(await dumpLedger(db)).toEqual(reference);
    expect(await counter(metrics, 'mdhub_meter_duplicates_total')).toBe(60);
  });

  it('a stopping meter commits what was delivered to it and never acknowledged, leaving nothing pending', async () => {
    const db = getDb();
    const { bus, prefix } = await redisBus();
    const stream = bus.work('usage');
    await stream.ensureGroup(METER_GROUP);
    await stream.add(encode(EVENTS));
    // Delivered to the meter's consumer with the reply lost: no other meter may claim them yet.
    const admin = await createClient({ url: REDIS_URL }).connect();
    const key = `${prefix}:work:{usage}`;
    await admin.sendCommand([
      'XREADGROUP',
      'GROUP',
      METER_GROUP,
      'meter-x',
      'COUNT',
      '1000',
      'STREAMS',
      key,
      '>',
    ]);
    await admin.close();
    expect(await stream.pendingCount(METER_GROUP)).toBe(EVENTS.length);
    const meter = await runMeter({
      db,
      bus,
      batchSize: 50,
      ...FAST,
      claimMinIdleMs: 600_000,
      consumer: 'meter-x',
    });
    await meter.stop();
    expect(await stream.pendingCount(METER_GROUP)).toBe(0);
    expect(await dumpLedger(db)).toEqual(reference);
  });

  it('acknowledges what it committed while Redis refused writes as soon as it takes them again', async () => {
    const db = getDb();
    const redis = await PrivateRedis.start();
    const bus = await openBus({ url: redis.url, prefix: 'oom' });
    const admin = await createClient({ url: redis.url }).connect();
    let meter: Meter | undefined;
    try {
      const stream = bus.work('usage');
      await stream.ensureGroup(METER_GROUP);
      await stream.add(encode(EVENTS));
      // Out of memory: reads and lone XACK/XDEL still work, anything in MULTI does not.
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
      meter = await runMeter({ db, bus, batchSize: 50, ...FAST, claimMinIdleMs: 600_000 });
      await until(
        async () => (await stream.pendingCount(METER_GROUP)) === 0 && (await stream.length()) === 0,
      );
      expect(await dumpLedger(db)).toEqual(reference);
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0']).catch(() => undefined);
      await admin.close();
      await meter?.stop();
      await bus.close();
      await redis.stop();
    }
  });

  it('gives the same ledger when a meter is stopped mid-stream and others carry on, several at once', async () => {
    const db = getDb();
    const { bus, meters } = await redisBus();
    const stream = bus.work('usage');
    const first = await runMeter({ db, bus, batchSize: 10, ...FAST });
    await stream.add(encode(EVENTS.slice(0, 150)));
    await sleep(30);
    await first.stop();
    await stream.add(encode(EVENTS.slice(150)));
    await stream.add(encode(EVENTS));
    for (let i = 0; i < 3; i++) meters.push(await runMeter({ db, bus, batchSize: 7, ...FAST }));
    await drained(bus);
    expect(await dumpLedger(db)).toEqual(reference);
  });

  it('dead-letters entries that are not usage events, with the reason, and keeps metering', async () => {
    const db = getDb();
    const { bus, meters } = await redisBus();
    const stream = bus.work('usage');
    const bad = [
      'not json {',
      JSON.stringify({ v: 1, kind: 'teleport', id: 'x1' }),
      JSON.stringify({ ...EVENTS[0], v: 2 }),
      Buffer.from([0xff, 0x00, 0xfe]),
    ];
    await stream.add([...encode(EVENTS.slice(0, 20)), ...bad, ...encode(EVENTS.slice(20))]);
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    meters.push(await runMeter({ db, bus, metrics, ...FAST }));
    await drained(bus);
    expect(await dumpLedger(db)).toEqual(reference);
    const { rows: letters } = await db.query<{ entry_id: string; reason: string; payload_size: number }>(
      'select entry_id, reason, payload_size from usage_dead_letters',
    );
    const order = (id: string) => id.split('-').map(Number) as [number, number];
    const rows = letters.sort((a, b) => {
      const [am, as] = order(a.entry_id);
      const [bm, bs] = order(b.entry_id);
      return am - bm || as - bs;
    });
    expect(rows.map((r) => r.payload_size)).toEqual(bad.map((b) => Buffer.byteLength(b)));
    expect(rows[0]?.reason).toMatch(/^not JSON/);
    expect(rows[1]?.reason).toMatch(/^not a usage event: kind/);
    expect(rows[2]?.reason).toMatch(/^not a usage event: v/);
    expect(await counter(metrics, 'mdhub_meter_dead_letters_total')).toBe(4);
  });

  it('dead-letters an event the database refuses, instead of retrying its batch for ever', async () => {
    const db = getDb();
    const { bus, meters } = await redisBus();
    const stream = bus.work('usage');
    // Valid by the schema, but PostgreSQL cannot store a NUL character in text.
    const delivery = EVENTS.find((e) => e.kind === 'deliveries');
    const poison = { ...delivery, id: 'poison', user: 'nul\u0000user' };
    await stream.add([...encode(EVENTS.slice(0, 30)), JSON.stringify(poison), ...encode(EVENTS.slice(30))]);
    const metrics = createMetricsRegistry({ defaultMetrics: false });
    meters.push(await runMeter({ db, bus, metrics, ...FAST }));
    await drained(bus);
    expect(await dumpLedger(db)).toEqual(reference);
    const { rows } = await db.query<{ reason: string }>('select reason from usage_dead_letters');
    expect(rows).toHaveLength(1);
    expect(rows[0]?.reason).toMatch(/^the ledger refused it: /);
    expect(await counter(metrics, 'mdhub_meter_batch_failures_total')).toBe(3);
  });

  it('meters on the in-process bus of the embedded default too', async () => {
    const db = getDb();
    const bus = await openBus();
    try {
      const stream = bus.work('usage');
      await stream.add(encode(EVENTS));
      await stream.add(encode(EVENTS.slice(0, 50)));
      const meter = await runMeter({ db, bus, batchSize: 25, ...FAST });
      await drained(bus);
      await meter.stop();
      expect(await dumpLedger(db)).toEqual(reference);
    } finally {
      await bus.close();
    }
  });
});
