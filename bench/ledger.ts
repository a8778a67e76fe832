import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { loadCatalog } from '../config/index.js';
import { openBus } from '../platform/bus/index.js';
import { type Db, migrate, openDb } from '../platform/db/index.js';
import { fileReport, generateLicensorFile, METER_GROUP, runMeter, type UsageEvent } from '../usage/index.js';
import { type Figures, median, type Section } from './figures.js';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const RUNS = 3;
const EVENTS = 50_000;
const USERS = 100_000;
export const MONTH = '2026-10';
const MONTH_START = Date.UTC(2026, 9, 1);
const DAY_MS = 86_400_000;

/** A fresh migrated PostgreSQL schema for one run, dropped by `done`. */
export async function freshDb(): Promise<{ db: Db; done: () => Promise<void> }> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const db = await openDb({ url: POSTGRES_URL, schema });
  await migrate(db);
  return {
    db,
    done: async () => {
      try {
        await db.query(`drop schema ${schema} cascade`);
      } finally {
        await db.close();
      }
    },
  };
}

/**
 * A day of edge traffic in miniature: per session an open, a first access, flushes, snapshots and
 * a close, over 2 000 users on three products.
 */
export function trafficEvents(count: number): string[] {
  const out: string[] = [];
  const products = ['CTA_A', 'CTA_B', 'UTP'];
  for (let s = 0; out.length < count; s++) {
    const user = `u${s % 2000}`;
    const product = products[s % 3]!;
    const at = MONTH_START + (s % 28) * DAY_MS + (s % 3600) * 1000;
    const day = new Date(at).toISOString().slice(0, 10);
    const common = { v: 1 as const, edge: `e${s % 4}`, at, day, user, device: `d${s % 3}` };
    const session = `s${s}`;
    const events: UsageEvent[] = [
      { ...common, id: `o${s}`, kind: 'session_open', session },
      { ...common, id: `f${s}`, kind: 'first_access', session, product },
    ];
    for (let f = 0; f < 4; f++) {
      events.push({
        ...common,
        id: `d${s}-${f}`,
        kind: 'deliveries',
        session,
        product,
        count: 100 + f,
        firstAt: at,
        lastAt: at + 60_000,
      });
      events.push({
        ...common,
        id: `q${s}-${f}`,
        kind: 'query',
        product,
        symbol: 'IBM',
        type: 'Q',
        mode: 'realtime',
        requestId: `r${s}-${f}`,
      });
    }
    events.push({ ...common, id: `c${s}`, kind: 'session_close', session, openedAt: at, reason: 'client' });
    for (const event of events) out.push(JSON.stringify(event));
  }
  return out.slice(0, count);
}

/** Usage events/s from a Redis stream through the meter into the PostgreSQL ledger, committed and acknowledged. */
export async function ledgerEventsPerSecond(): Promise<number> {
  const payloads = trafficEvents(EVENTS);
  const runs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const prefix = `bench-ledger-${randomBytes(4).toString('hex')}`;
    const bus = await openBus({ url: REDIS_URL, prefix });
    const { db, done } = await freshDb();
    try {
      const stream = bus.work('usage');
      for (let i = 0; i < payloads.length; i += 5000) await stream.add(payloads.slice(i, i + 5000));
      const started = performance.now();
      const meter = await runMeter({ db, bus, batchSize: 1000, blockMs: 20 });
      while ((await stream.length()) > 0 || (await stream.pendingCount(METER_GROUP)) > 0) await sleep(5);
      runs.push(EVENTS / ((performance.now() - started) / 1000));
      await meter.stop();
    } finally {
      await bus.close();
      await done();
      await deleteKeys(prefix);
    }
  }
  return median(runs);
}

async function deleteKeys(prefix: string): Promise<void> {
  const client = await createClient({ url: REDIS_URL }).connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 }))
      if (keys.length) await client.del(keys);
  } finally {
    client.destroy();
  }
}

/**
 * A month of 100 000 users on the default catalog, written straight into the tables: everyone
 * holds CTA_A, half CTA_B, a third UTP; two in five are non-professional; seven in ten used
 * CTA_A on five days, a quarter of those on a second device, and CTA_B users made snapshots.
 */
export async function seedMonth(db: Db): Promise<void> {
  const id = "'u' || lpad(i::text, 6, '0')";
  const series = `generate_series(1, ${USERS}) as i`;
  const before = MONTH_START - 40 * DAY_MS;
  await db.query(
    `insert into users (id, status, billing_delinquent, created_at, name, address)
      select ${id}, 'active', false, ${before}, 'Subscriber ' || i, i || ' Market Street, Springfield, IL 62701, US'
        from ${series}`,
  );
  await db.query(
    `insert into attestations (user_id, status, at) select ${id}, 'non_professional', ${before} from ${series} where i % 5 < 2`,
  );
  await db.query(
    `insert into agreements (user_id, licensor, version, accepted_at) select ${id}, 'CTA', '2024-01', ${before} from ${series}`,
  );
  await db.query(
    `insert into agreements (user_id, licensor, version, accepted_at)
      select ${id}, 'UTP', '2024-01', ${before} from ${series} where i % 3 = 0`,
  );
  await db.query(
    `insert into grants (user_id, product, valid_from, created_at, created_by)
      select ${id}, p.product, ${before}, ${before}, 'bench' from ${series}
        cross join (values ('CTA_A', 1), ('CTA_B', 2), ('UTP', 3)) as p(product, every)
       where i % p.every = 0`,
  );
  await db.query(
    `insert into usage_daily (product, day, user_id, device_id, first_realtime_at, last_realtime_at, deliveries, sessions)
      select 'CTA_A', to_char(to_timestamp((${MONTH_START} + d * ${DAY_MS}) / 1000) at time zone 'UTC', 'YYYY-MM-DD'),
          ${id}, 'd' || dev, ${MONTH_START} + d * ${DAY_MS} + 3600000, ${MONTH_START} + d * ${DAY_MS} + 7200000, 500, 1
        from ${series} cross join generate_series(0, 4) as d cross join generate_series(1, 2) as dev
       where i % 10 < 7 and (dev = 1 or i % 4 = 0)`,
  );
  await db.query(
    `insert into usage_daily (product, day, user_id, device_id, first_realtime_at, last_realtime_at, queries, realtime_queries)
      select 'CTA_B', '2026-10-15', ${id}, 'd1', ${MONTH_START} + 14 * ${DAY_MS}, ${MONTH_START} + 14 * ${DAY_MS} + 60000,
          i % 300, i % 300
        from ${series} where i % 2 = 0 and i % 10 < 7`,
  );
  await db.query('analyze');
}

/** Thrown to roll a measured filing back, so each run files the same month afresh. */
class RolledBack extends Error {}

const BENCH_ACTOR = { type: 'operator', id: 'bench', role: 'compliance' } as const;

/**
 * Seconds for a compliance officer's month end on 100 000 users: filing the month (the report
 * regenerated from the monthly ledger and the entitlement history, its four files rendered, hashed,
 * stored and audited; rolled back after each run) and generating each licensor's detail file,
 * validated as the licensor would and audited.
 */
async function reportSeconds(): Promise<number> {
  const catalog = loadCatalog();
  const { db, done } = await freshDb();
  const runs: number[] = [];
  try {
    await seedMonth(db);
    for (let run = 0; run < RUNS; run++) {
      const started = performance.now();
      await db
        .transaction(async (tx) => {
          await fileReport({
            ctx: { actor: BENCH_ACTOR, tx, at: Date.now(), catalog },
            input: { month: MONTH },
          });
          throw new RolledBack();
        })
        .catch((error: unknown) => {
          if (!(error instanceof RolledBack)) throw error;
        });
      for (const licensor of catalog.licensors.keys()) {
        await generateLicensorFile(db, catalog, MONTH, licensor, { format: 'csv', detail: true });
      }
      runs.push((performance.now() - started) / 1000);
    }
  } finally {
    await done();
  }
  return median(runs);
}

export const ledgerSection: Section = {
  name: 'ledger',
  async run(): Promise<Figures> {
    return {
      ledger_events_per_s: { value: await ledgerEventsPerSecond(), unit: 'events/s', goal: '>= 50000' },
      report_100k_users_s: { value: await reportSeconds(), unit: 's', goal: '<= 30 s' },
    };
  },
};
