import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type Bus,
  type ControlMessage,
  compareIds,
  type OpenBusOptions,
  openBus,
  shardOf,
} from '../../platform/bus/index.js';
import { clusterUnavailable, RedisCluster } from '../../testing/redis-cluster.js';
import { killRedisConnections, REDIS_URL } from '../helpers/services.js';

const RUN_PREFIX = `mdhub-test-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
let busCount = 0;
const openBuses = new Set<Bus>();

type Settings = Omit<OpenBusOptions, 'url' | 'clusterUrls' | 'prefix'>;

/** One 3-master Redis Cluster of this file's own, shared by its tests (each under its own prefix). */
const NO_CLUSTER = clusterUnavailable();
let cluster: RedisCluster | undefined;

beforeAll(async () => {
  if (NO_CLUSTER === undefined) cluster = await RedisCluster.start({ masters: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

async function clusterBus(settings: Settings = {}): Promise<Bus> {
  if (cluster === undefined) throw new Error('no Redis Cluster');
  const bus = await openBus({
    ...settings,
    clusterUrls: cluster.urls,
    prefix: `${RUN_PREFIX}:${++busCount}`,
  });
  openBuses.add(bus);
  return bus;
}

/** A fresh bus per test; on Redis under its own prefix, so tests never see each other's streams. */
async function redisBus(settings: Settings = {}): Promise<{ bus: Bus; prefix: string }> {
  const prefix = `${RUN_PREFIX}:${++busCount}`;
  const bus = await openBus({ ...settings, url: REDIS_URL, prefix });
  openBuses.add(bus);
  return { bus, prefix };
}

async function memoryBus(settings: Settings = {}): Promise<Bus> {
  const bus = await openBus(settings);
  openBuses.add(bus);
  return bus;
}

afterEach(async () => {
  await Promise.all([...openBuses].map((bus) => bus.close()));
  openBuses.clear();
});

afterAll(async () => {
  const admin = await createClient({ url: REDIS_URL }).connect();
  for await (const keys of admin.scanIterator({ MATCH: `${RUN_PREFIX}*`, COUNT: 1000 })) {
    if (keys.length > 0) await admin.del(keys);
  }
  await admin.close();
});

async function until(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves to 'timeout' if `promise` takes longer than `ms`: liveness only, never performance. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  return Promise.race([promise, sleep(ms, 'timeout' as const)]);
}

const text = (entries: ReadonlyArray<{ payload: Buffer }>): string[] =>
  entries.map((e) => e.payload.toString());

describe.each([
  ['memory', 'memory', memoryBus],
  ['redis', 'redis', async (settings?: Settings) => (await redisBus(settings)).bus],
  ['redis cluster', 'redis', clusterBus],
] as const)('%s bus', (label, kind, open) => {
  if (label === 'redis cluster' && NO_CLUSTER !== undefined) {
    it.skip(`needs a Redis Cluster: ${NO_CLUSTER}`, () => undefined);
    return;
  }

  it('reports its kind and is healthy', async () => {
    const bus = await open();
    expect(bus.kind).toBe(kind);
    // What /readyz shows: which Redis it reached, and, when it cannot, the variable to look at.
    expect(await bus.health()).toEqual(label === 'memory' ? { ok: true } : { ok: true, detail: label });
    await bus.close();
    const down = await bus.health();
    expect(down.ok).toBe(false);
    if (label === 'redis cluster')
      expect(down).toMatchObject({ reason: expect.stringContaining('REDIS_CLUSTER_URLS') });
    if (label === 'redis') expect(down).toMatchObject({ reason: expect.stringContaining('REDIS_URL') });
  });

  it("returns every shard's ticks in publish order from 'earliest'", async () => {
    const bus = await open({ shards: 4 });
    await bus.ticks.publish([
      { shard: 0, payload: Buffer.from('a0') },
      { shard: 3, payload: Buffer.from('b0') },
      { shard: 0, payload: Buffer.from('a1') },
    ]);
    await bus.ticks.publish([{ shard: 3, payload: Buffer.from('b1') }]);
    const reader = bus.ticks.reader({ from: 'earliest' });
    const entries = await reader.next({ count: 100, blockMs: 0 });
    expect(text(entries.filter((e) => e.shard === 0))).toEqual(['a0', 'a1']);
    expect(text(entries.filter((e) => e.shard === 3))).toEqual(['b0', 'b1']);
    expect(entries).toHaveLength(4);
    for (const entry of entries) expect(entry.id).toMatch(/^\d+-\d+$/);
    expect(await reader.next({ count: 100, blockMs: 0 })).toEqual([]);
  });

  it('reads from just after given ids, reports where a reader started, and what each stream retains', async () => {
    const bus = await open({ shards: 2, tickMaxLen: 10 });
    const fresh = await bus.ticks.retention();
    expect(fresh).toHaveLength(2);
    expect(fresh[0]).toMatchObject({ deletedThrough: '0-0', lastId: '0-0' });
    // The epoch is made once and then stays.
    expect((await bus.ticks.retention()).map((r) => r.epoch)).toEqual(fresh.map((r) => r.epoch));
    await bus.ticks.publish(['a', 'b', 'c'].map((p) => ({ shard: 0, payload: Buffer.from(p) })));
    const all = await bus.ticks.reader({ from: 'earliest' }).next({ count: 100, blockMs: 0 });
    const [a, b, c] = all.map((e) => e.id);
    const latest = bus.ticks.reader({ from: 'latest' });
    expect(await latest.started()).toEqual([c, '0-0']);
    const after = bus.ticks.reader({ from: { after: [a as string, '0-0'] } });
    expect(await after.started()).toEqual([a, '0-0']);
    expect(text(await after.next({ count: 100, blockMs: 0 }))).toEqual(['b', 'c']);
    expect((await bus.ticks.retention())[0]).toMatchObject({ deletedThrough: '0-0', lastId: c });
    await bus.ticks.publish(
      Array.from({ length: 300 }, (_, n) => ({ shard: 0, payload: Buffer.from(`x${n}`) })),
    );
    // Trimmed past `b`: reading after it would miss entries.
    const trimmed = (await bus.ticks.retention())[0];
    expect(compareIds(trimmed?.deletedThrough ?? '0-0', b as string)).toBeGreaterThan(0);
    await bus.close();
  });

  it('reads only the requested shards, at most `count` per shard', async () => {
    const bus = await open({ shards: 2 });
    const batches = [0, 1, 2, 3, 4].flatMap((n) => [
      { shard: 0, payload: Buffer.from(`x${n}`) },
      { shard: 1, payload: Buffer.from(`y${n}`) },
    ]);
    await bus.ticks.publish(batches);
    const reader = bus.ticks.reader({ shards: [1], from: 'earliest' });
    expect(text(await reader.next({ count: 3, blockMs: 0 }))).toEqual(['y0', 'y1', 'y2']);
    expect(text(await reader.next({ count: 3, blockMs: 0 }))).toEqual(['y3', 'y4']);
  });

  it("a 'latest' reader skips what existed at open and loses nothing published between calls", async () => {
    const bus = await open({ shards: 2 });
    await bus.ticks.publish([{ shard: 1, payload: Buffer.from('before') }]);
    const reader = bus.ticks.reader({ from: 'latest' });
    await bus.ticks.publish([{ shard: 1, payload: Buffer.from('first') }]);
    expect(text(await reader.next({ count: 10, blockMs: 1_000 }))).toEqual(['first']);
    await bus.ticks.publish([
      { shard: 0, payload: Buffer.from('second') },
      { shard: 1, payload: Buffer.from('third') },
    ]);
    await bus.ticks.publish([{ shard: 1, payload: Buffer.from('fourth') }]);
    const later = await reader.next({ count: 10, blockMs: 1_000 });
    expect(text(later).sort()).toEqual(['fourth', 'second', 'third']);
    expect(text(later.filter((e) => e.shard === 1))).toEqual(['third', 'fourth']);
  });

  it('a reader from a time starts at the first entry stored at or after it, then follows new ones', async () => {
    const bus = await open({ shards: 2 });
    await bus.ticks.publish([{ shard: 0, payload: Buffer.from('old') }]);
    await sleep(30);
    const from = Date.now();
    await sleep(5);
    await bus.ticks.publish([
      { shard: 0, payload: Buffer.from('new0') },
      { shard: 1, payload: Buffer.from('new1') },
    ]);
    const reader = bus.ticks.reader({ from: { time: from } });
    expect(text(await reader.next({ count: 10, blockMs: 0 })).sort()).toEqual(['new0', 'new1']);
    await bus.ticks.publish([{ shard: 1, payload: Buffer.from('later') }]);
    expect(text(await reader.next({ count: 10, blockMs: 1_000 }))).toEqual(['later']);
    const all = bus.ticks.reader({ shards: [0], from: { time: 0 } });
    expect(text(await all.next({ count: 10, blockMs: 0 }))).toEqual(['old', 'new0']);
    const future = bus.ticks.reader({ from: { time: Date.now() + 60_000 } });
    expect(await future.next({ count: 10, blockMs: 0 })).toEqual([]);
  });

  it('a blocked next() wakes when a tick is published', async () => {
    const bus = await open({ shards: 2 });
    const reader = bus.ticks.reader();
    const pending = reader.next({ count: 10, blockMs: 10_000 });
    await sleep(50);
    await bus.ticks.publish([{ shard: 1, payload: Buffer.from('wake') }]);
    const entries = await within(pending, 5_000);
    expect(entries).not.toBe('timeout');
    expect(entries).toEqual([expect.objectContaining({ shard: 1, payload: Buffer.from('wake') })]);
  });

  it('next() resolves to [] when nothing arrives within blockMs', async () => {
    const bus = await open({ shards: 1 });
    expect(await bus.ticks.reader().next({ count: 10, blockMs: 50 })).toEqual([]);
  });

  it('trims a tick shard to roughly tickMaxLen, keeping the newest', async () => {
    const bus = await open({ shards: 1, tickMaxLen: 50 });
    for (let batch = 0; batch < 10; batch++) {
      await bus.ticks.publish(
        Array.from({ length: 100 }, (_, n) => ({ shard: 0, payload: Buffer.from(String(batch * 100 + n)) })),
      );
    }
    const kept = await bus.ticks.reader({ from: 'earliest' }).next({ count: 10_000, blockMs: 0 });
    expect(kept.length).toBeGreaterThanOrEqual(50);
    expect(kept.length).toBeLessThanOrEqual(250);
    expect(kept.at(-1)?.payload.toString()).toBe('999');
  });

  it('rejects a batch for a shard that does not exist', async () => {
    const bus = await open({ shards: 2 });
    await expect(bus.ticks.publish([{ shard: 2, payload: Buffer.from('x') }])).rejects.toThrow(RangeError);
    expect(() => bus.ticks.reader({ shards: [0, -1] })).toThrow(RangeError);
  });

  it('takes empty batches, acks and claims without touching anything', async () => {
    const bus = await open({ shards: 1 });
    await bus.ticks.publish([]);
    expect(await bus.ticks.reader({ from: 'earliest' }).next({ count: 10, blockMs: 0 })).toEqual([]);
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    expect(await stream.add([])).toEqual([]);
    await stream.add(['kept']);
    const consumer = stream.consumer('meter', 'm1');
    await consumer.read({ count: 10, blockMs: 0 });
    expect(await consumer.ack([])).toBe(0);
    expect(await consumer.claimStale({ minIdleMs: 0, count: 0 })).toEqual([]);
    expect(await stream.pendingCount('meter')).toBe(1);
    await bus.kv.setFields('last:AAPL', new Map());
    expect(await bus.kv.getFields('last:AAPL', ['Q'])).toEqual([null]);
  });

  it('work entries stay pending until acked, and acked entries are gone', async () => {
    const bus = await open();
    const stream = bus.work('usage');
    expect(bus.work('usage')).toBe(stream);
    await stream.ensureGroup('meter');
    await stream.ensureGroup('meter');
    const ids = await stream.add(['one', Buffer.from('two'), 'three']);
    expect(ids).toHaveLength(3);
    const consumer = stream.consumer('meter', 'm1');
    const read = await consumer.read({ count: 10, blockMs: 0 });
    expect(read.map((e) => e.id)).toEqual(ids);
    expect(text(read)).toEqual(['one', 'two', 'three']);
    expect(await stream.pendingCount('meter')).toBe(3);
    expect(await consumer.ack([ids[0] as string, ids[1] as string])).toBe(2);
    expect(await stream.pendingCount('meter')).toBe(1);
    expect(await stream.length()).toBe(1);
    expect(await consumer.ack([ids[0] as string])).toBe(0);
    expect(await consumer.read({ count: 10, blockMs: 0 })).toEqual([]);
  });

  it('a new group starts at the beginning of the stream', async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.add(['early']);
    await stream.ensureGroup('meter');
    expect(text(await stream.consumer('meter', 'm1').read({ count: 10, blockMs: 0 }))).toEqual(['early']);
  });

  it('a blocked read wakes when an entry is added', async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const pending = stream.consumer('meter', 'm1').read({ count: 10, blockMs: 10_000 });
    await sleep(50);
    await stream.add(['late']);
    const entries = await within(pending, 5_000);
    expect(entries).not.toBe('timeout');
    expect(text(entries as Array<{ payload: Buffer }>)).toEqual(['late']);
  });

  it('two consumers of one group share the entries without duplicates', async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const a = stream.consumer('meter', 'a');
    const b = stream.consumer('meter', 'b');
    const waiting = [a.read({ count: 5, blockMs: 5_000 }), b.read({ count: 5, blockMs: 5_000 })];
    await sleep(50);
    const ids = await stream.add(Array.from({ length: 20 }, (_, n) => `e${n}`));
    const seen = (await Promise.all(waiting)).flat();
    for (;;) {
      const more = [...(await a.read({ count: 3, blockMs: 0 })), ...(await b.read({ count: 3, blockMs: 0 }))];
      if (more.length === 0) break;
      seen.push(...more);
    }
    expect(seen.map((e) => e.id).sort()).toEqual([...ids].sort());
    expect(await stream.pendingCount('meter')).toBe(20);
  });

  it("claimStale takes a dead consumer's unacked entries after minIdleMs, not before", async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const ids = await stream.add(['p0', 'p1', 'p2', 'p3']);
    const dead = stream.consumer('meter', 'dead');
    await dead.read({ count: 3, blockMs: 0 });
    const alive = stream.consumer('meter', 'alive');
    expect(await alive.claimStale({ minIdleMs: 300, count: 10 })).toEqual([]);
    await sleep(350);
    const claimed = await alive.claimStale({ minIdleMs: 300, count: 10 });
    expect(claimed.map((e) => e.id)).toEqual(ids.slice(0, 3));
    expect(text(claimed)).toEqual(['p0', 'p1', 'p2']);
    expect(await alive.claimStale({ minIdleMs: 300, count: 10 })).toEqual([]);
    expect(await alive.ack(claimed.map((e) => e.id))).toBe(3);
    expect(await stream.pendingCount('meter')).toBe(0);
    expect(text(await alive.read({ count: 10, blockMs: 0 }))).toEqual(['p3']);
  });

  it('touch keeps entries a live consumer works on from being claimed as stale', async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const ids = await stream.add(['t0', 't1']);
    const busy = stream.consumer('meter', 'busy');
    await busy.read({ count: 2, blockMs: 0 });
    const other = stream.consumer('meter', 'other');
    for (let k = 0; k < 4; k++) {
      await sleep(100);
      await busy.touch(ids);
      expect(await other.claimStale({ minIdleMs: 250, count: 10 })).toEqual([]);
    }
    await sleep(300);
    expect((await other.claimStale({ minIdleMs: 250, count: 10 })).map((e) => e.id)).toEqual(ids);
    await busy.touch([]);
  });

  it('claimStale returns at most `count` entries, oldest first', async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const ids = await stream.add(['q0', 'q1', 'q2', 'q3', 'q4']);
    await stream.consumer('meter', 'dead').read({ count: 5, blockMs: 0 });
    const alive = stream.consumer('meter', 'alive');
    expect((await alive.claimStale({ minIdleMs: 0, count: 2 })).map((e) => e.id)).toEqual(ids.slice(0, 2));
  });

  it("readPending returns this consumer's delivered, unacknowledged entries oldest first, and no one else's", async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const ids = await stream.add(['r0', 'r1', 'r2', 'r3']);
    const mine = stream.consumer('meter', 'mine');
    const other = stream.consumer('meter', 'other');
    await mine.read({ count: 3, blockMs: 0 });
    await other.read({ count: 1, blockMs: 0 });
    expect(await mine.readPending({ count: 0 })).toEqual([]);
    expect((await mine.readPending({ count: 2 })).map((e) => e.id)).toEqual(ids.slice(0, 2));
    await mine.ack([ids[1]!]);
    const left = await mine.readPending({ count: 10 });
    expect(left.map((e) => e.id)).toEqual([ids[0], ids[2]]);
    expect(text(left)).toEqual(['r0', 'r2']);
    // Reading pending entries again delivers nothing new and changes nothing.
    expect(await stream.pendingCount('meter')).toBe(3);
    expect((await other.readPending({ count: 10 })).map((e) => e.id)).toEqual([ids[3]]);
  });

  it('control messages reach every subscriber in order, even past a throwing handler', async () => {
    const bus = await open();
    const first: ControlMessage[] = [];
    const second: ControlMessage[] = [];
    await bus.control.subscribe((message) => {
      first.push(message);
      if (message.n === 1) throw new Error('handler bug');
    });
    await bus.control.subscribe((message) => second.push(message));
    for (let n = 1; n <= 3; n++) await bus.control.publish({ type: 'grant.changed', n, user: 'u1' });
    await until(() => first.length === 3 && second.length === 3, 'control delivery');
    const expected = [1, 2, 3].map((n) => ({ type: 'grant.changed', n, user: 'u1' }));
    expect(first).toEqual(expected);
    expect(second).toEqual(expected);
  });

  it('a control subscriber gets only messages published after it subscribed, until it closes', async () => {
    const bus = await open();
    await bus.control.publish({ type: 'old' });
    const seen: string[] = [];
    const subscription = await bus.control.subscribe((message) => seen.push(message.type));
    await bus.control.publish({ type: 'new' });
    await until(() => seen.length === 1, 'control delivery');
    await subscription.close();
    await bus.control.publish({ type: 'after-close' });
    await sleep(50);
    expect(seen).toEqual(['new']);
  });

  it('stores and returns key/value fields', async () => {
    const bus = await open();
    await bus.kv.setFields(
      'last:AAPL',
      new Map<string, Buffer | string>([
        ['Q', Buffer.from([1, 2, 255])],
        ['T', 'trade'],
      ]),
    );
    await bus.kv.setFields('last:AAPL', new Map([['T', 'newer']]));
    expect(await bus.kv.getField('last:AAPL', 'Q')).toEqual(Buffer.from([1, 2, 255]));
    expect(await bus.kv.getField('last:AAPL', 'T')).toEqual(Buffer.from('newer'));
    expect(await bus.kv.getField('last:AAPL', 'X')).toBeNull();
    expect(await bus.kv.getField('last:MSFT', 'Q')).toBeNull();
    expect(await bus.kv.getFields('last:AAPL', ['T', 'X', 'Q'])).toEqual([
      Buffer.from('newer'),
      null,
      Buffer.from([1, 2, 255]),
    ]);
    expect(await bus.kv.getFields('last:MSFT', ['Q'])).toEqual([null]);
    expect(await bus.kv.getFields('last:AAPL', [])).toEqual([]);
  });

  it('a lease is exclusive, renewable by its holder, expires after its ttl and is released only by its holder', async () => {
    const bus = await open();
    expect(await bus.leases.acquire('feed', 'a', 200)).toBe(true);
    expect(await bus.leases.acquire('feed', 'b', 200)).toBe(false);
    await sleep(120);
    expect(await bus.leases.acquire('feed', 'a', 200)).toBe(true);
    await sleep(120);
    expect(await bus.leases.acquire('feed', 'b', 200)).toBe(false);
    await sleep(150);
    expect(await bus.leases.acquire('feed', 'b', 10_000)).toBe(true);
    await bus.leases.release('feed', 'a');
    expect(await bus.leases.acquire('feed', 'a', 10_000)).toBe(false);
    await bus.leases.release('feed', 'b');
    expect(await bus.leases.acquire('feed', 'a', 10_000)).toBe(true);
  });

  it('refuses a lease or session ttl under 1 ms', async () => {
    const bus = await open();
    for (const ttl of [0, 0.5, -1, Number.NaN]) {
      await expect(bus.leases.acquire('feed', 'a', ttl)).rejects.toThrow(
        `lease ttl must be at least 1 ms, got ${ttl}`,
      );
      await expect(bus.sessions.acquire('u1', 's1', 1, ttl)).rejects.toThrow(
        `session ttl must be at least 1 ms, got ${ttl}`,
      );
    }
    expect(await bus.leases.acquire('feed', 'b', 1_000)).toBe(true);
    expect(await bus.sessions.count('u1')).toBe(0);
  });

  it('session slots: at most `limit` per group, renewable, freed by release or by lapsing', async () => {
    const bus = await open();
    expect(await bus.sessions.acquire('u1', 's1', 2, 10_000)).toEqual({ held: true, count: 1 });
    expect(await bus.sessions.acquire('u1', 's2', 2, 300)).toEqual({ held: true, count: 2 });
    expect(await bus.sessions.acquire('u1', 's3', 2, 10_000)).toEqual({ held: false, count: 2 });
    expect(await bus.sessions.acquire('u2', 's4', 2, 10_000)).toEqual({ held: true, count: 1 });
    expect(await bus.sessions.acquire('u1', 's1', 2, 10_000)).toEqual({ held: true, count: 2 });
    expect(await bus.sessions.count('u1')).toBe(2);
    await sleep(350);
    expect(await bus.sessions.count('u1')).toBe(1);
    expect(await bus.sessions.acquire('u1', 's3', 2, 10_000)).toEqual({ held: true, count: 2 });
    await bus.sessions.release('u1', 's1');
    await bus.sessions.release('u1', 'never-held');
    expect(await bus.sessions.count('u1')).toBe(1);
    expect(await bus.sessions.acquire('u1', 's5', 2, 10_000)).toEqual({ held: true, count: 2 });
    expect(await bus.sessions.count('nobody')).toBe(0);
  });

  it('session slots: held() says whether a slot is held and unexpired, and changes nothing', async () => {
    const bus = await open();
    expect(await bus.sessions.acquire('u1', 's1', 1, 10_000)).toEqual({ held: true, count: 1 });
    expect(await bus.sessions.acquire('u1', 's2', 1, 10_000)).toEqual({ held: false, count: 1 });
    expect(await bus.sessions.held('u1', 's1')).toBe(true);
    expect(await bus.sessions.held('u1', 's2')).toBe(false);
    expect(await bus.sessions.held('nobody', 's1')).toBe(false);
    await bus.sessions.release('u1', 's1');
    expect(await bus.sessions.held('u1', 's1')).toBe(false);
    expect(await bus.sessions.acquire('u2', 's3', 2, 10_000)).toEqual({ held: true, count: 1 });
    expect(await bus.sessions.acquire('u2', 's4', 2, 200)).toEqual({ held: true, count: 2 });
    await sleep(250);
    // Lapsed but not yet cleared (no acquire has run since): not held, and still not counted.
    expect(await bus.sessions.held('u2', 's4')).toBe(false);
    expect(await bus.sessions.held('u2', 's3')).toBe(true);
    expect(await bus.sessions.count('u2')).toBe(1);
  });

  it('session slots: concurrent acquires never exceed the limit', async () => {
    const bus = await open();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, n) => bus.sessions.acquire('busy', `s${n}`, 3, 10_000)),
    );
    expect(results.filter((r) => r.held)).toHaveLength(3);
    expect(await bus.sessions.count('busy')).toBe(3);
  });

  it('close() ends blocked reads promptly', async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const ticks = bus.ticks.reader().next({ count: 10, blockMs: 30_000 });
    const work = stream.consumer('meter', 'm1').read({ count: 10, blockMs: 30_000 });
    await sleep(50);
    await bus.close();
    expect(await within(ticks, 2_000)).toEqual([]);
    expect(await within(work, 2_000)).toEqual([]);
  });

  it("closing a work consumer ends its blocked read and leaves the group's other consumers alone", async () => {
    const bus = await open();
    const stream = bus.work('usage');
    await stream.ensureGroup('meter');
    const closing = stream.consumer('meter', 'closing');
    const staying = stream.consumer('meter', 'staying');
    const blocked = closing.read({ count: 10, blockMs: 30_000 });
    const other = staying.read({ count: 10, blockMs: 5_000 });
    await sleep(50);
    await closing.close();
    expect(await within(blocked, 2_000)).toEqual([]);
    expect(await closing.read({ count: 10, blockMs: 0 })).toEqual([]);
    await stream.add(['still here']);
    expect(text((await within(other, 5_000)) as Array<{ payload: Buffer }>)).toEqual(['still here']);
  });

  it("closing a reader ends its blocked next() and leaves the bus's other readers alone", async () => {
    const bus = await open({ shards: 1 });
    const closing = bus.ticks.reader();
    const staying = bus.ticks.reader();
    const blocked = closing.next({ count: 10, blockMs: 30_000 });
    const other = staying.next({ count: 10, blockMs: 5_000 });
    await sleep(50);
    await closing.close();
    expect(await within(blocked, 2_000)).toEqual([]);
    await bus.ticks.publish([{ shard: 0, payload: Buffer.from('still here') }]);
    expect(text((await within(other, 5_000)) as Array<{ payload: Buffer }>)).toEqual(['still here']);
  });
});

describe('openBus', () => {
  it('refuses a shard count that is not a positive integer', async () => {
    for (const shards of [0, -1, 1.5]) {
      await expect(openBus({ shards })).rejects.toThrow(`shards must be a positive integer, got ${shards}`);
      await expect(openBus({ shards, url: REDIS_URL, prefix: `${RUN_PREFIX}:bad` })).rejects.toThrow(
        RangeError,
      );
    }
  });

  it('rejects naming the Redis Cluster when no seed node answers within connectRetryMs', async () => {
    await expect(
      openBus({
        clusterUrls: ['redis://:hunter2@127.0.0.1:1'],
        connectRetryMs: 300,
        prefix: `${RUN_PREFIX}:x`,
      }),
    ).rejects.toThrow(
      /^cannot reach Redis Cluster \(1 seed node\) at redis:\/\/:\*\*\*@127\.0\.0\.1:1 after /,
    );
  });

  it('refuses both a Redis URL and Redis Cluster seed nodes', async () => {
    await expect(openBus({ url: REDIS_URL, clusterUrls: ['redis://127.0.0.1:7000'] })).rejects.toThrow(
      'not both',
    );
  });
});

describe('shardOf', () => {
  it('maps a symbol to the same shard every time, within range', () => {
    const symbols = ['AAPL', 'MSFT', 'BRK.A', 'SPY', 'Z', '', 'ÄÖÜ'];
    for (const shards of [1, 3, 16, 64]) {
      for (const symbol of symbols) {
        const shard = shardOf(symbol, shards);
        expect(Number.isInteger(shard)).toBe(true);
        expect(shard).toBeGreaterThanOrEqual(0);
        expect(shard).toBeLessThan(shards);
        expect(shardOf(symbol, shards)).toBe(shard);
      }
    }
    expect(shardOf('AAPL', 16)).toBe(shardOf(`AAP${'L'}`, 16));
  });

  it('spreads symbols over the shards', () => {
    const counts = new Array<number>(16).fill(0);
    for (let n = 0; n < 1_600; n++) counts[shardOf(`SYM${n}`, 16)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(50);
  });
});

describe('redis bus across connection loss', () => {
  it('a control subscriber is told to resync after its connection is killed, then keeps delivering', async () => {
    const { bus, prefix } = await redisBus();
    const seen: string[] = [];
    let resyncs = 0;
    await bus.control.subscribe((message) => seen.push(message.type), { onResync: () => resyncs++ });
    await bus.control.publish({ type: 'before' });
    await until(() => seen.length === 1, 'first message');
    expect(await killRedisConnections(`${prefix}:control:subscriber`)).toBe(1);
    await until(() => resyncs === 1, 'onResync');
    await bus.control.publish({ type: 'after' });
    await until(() => seen.length === 2, 'message after reconnect');
    expect(seen).toEqual(['before', 'after']);
    expect(resyncs).toBe(1);
  });

  it('a control subscriber is told of the loss before the resync', async () => {
    const { bus, prefix } = await redisBus();
    const calls: string[] = [];
    await bus.control.subscribe(() => undefined, {
      onDisconnect: () => calls.push('disconnect'),
      onResync: () => calls.push('resync'),
    });
    expect(await killRedisConnections(`${prefix}:control:subscriber`)).toBe(1);
    await until(() => calls.includes('resync'), 'onResync');
    expect(calls).toEqual(['disconnect', 'resync']);
  });

  it('a consumer group lost with a restarted Redis is recreated and reads what the stream holds', async () => {
    const { bus } = await redisBus();
    const stream = bus.work('lost-group');
    await stream.ensureGroup('meters');
    const consumer = stream.consumer('meters', 'm1');
    await stream.add(['one']);
    expect((await consumer.read({ count: 10, blockMs: 100 })).map((e) => e.payload.toString())).toEqual([
      'one',
    ]);
    // What an empty Redis after a restart without persistence looks like to the consumer.
    const admin = await createClient({ url: REDIS_URL }).connect();
    const [key] = await admin.keys(`*work:{lost-group}`);
    await admin.del(key!);
    await admin.close();
    await stream.add(['two']);
    const seen: string[] = [];
    for (let tries = 0; seen.length < 1 && tries < 5; tries++) {
      seen.push(...(await consumer.read({ count: 10, blockMs: 200 })).map((e) => e.payload.toString()));
    }
    expect(seen).toEqual(['two']);
  });

  it('a work read whose connection is killed gives back what it was delivered on the next read', async () => {
    const { bus, prefix } = await redisBus();
    const stream = bus.work('lost-reply');
    await stream.ensureGroup('meters');
    const consumer = stream.consumer('meters', 'm1');
    await consumer.read({ count: 1, blockMs: 0 });
    // Delivered to m1 and then lost with the reply: what a connection cut mid-read leaves pending.
    const admin = await createClient({ url: REDIS_URL }).connect();
    const [id] = await stream.add(['held']);
    const [key] = await admin.keys(`${prefix}*work:{lost-reply}`);
    await admin.sendCommand(['XREADGROUP', 'GROUP', 'meters', 'm1', 'COUNT', '1', 'STREAMS', key!, '>']);
    await admin.close();
    const blocked = consumer.read({ count: 10, blockMs: 10_000 });
    await sleep(50);
    expect(await killRedisConnections(`${key}:meters:m1`)).toBe(1);
    expect(await within(blocked, 2_000)).toEqual([]);
    let again: string[] = [];
    for (let tries = 0; again.length === 0 && tries < 20; tries++) {
      again = (await consumer.read({ count: 10, blockMs: 200 })).map((e) => e.id);
    }
    expect(again).toEqual([id]);
  });

  it('a tick reader resumes from its position after its connection is killed', async () => {
    const { bus, prefix } = await redisBus({ shards: 2 });
    const reader = bus.ticks.reader();
    await bus.ticks.publish([{ shard: 0, payload: Buffer.from('one') }]);
    expect(text(await reader.next({ count: 10, blockMs: 1_000 }))).toEqual(['one']);
    const blocked = reader.next({ count: 10, blockMs: 10_000 });
    await sleep(50);
    expect(await killRedisConnections(`${prefix}:tick-reader`)).toBe(1);
    expect(await within(blocked, 2_000)).toEqual([]);
    await bus.ticks.publish([
      { shard: 1, payload: Buffer.from('two') },
      { shard: 0, payload: Buffer.from('three') },
    ]);
    const seen: string[] = [];
    for (let tries = 0; seen.length < 2 && tries < 20; tries++) {
      seen.push(...text(await reader.next({ count: 10, blockMs: 500 })));
    }
    expect(seen.sort()).toEqual(['three', 'two']);
  });
});
