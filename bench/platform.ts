import { randomBytes } from 'node:crypto';
import { openBus } from '../platform/bus/index.js';
import { openDb } from '../platform/db/index.js';
import { type Figures, median, type Section } from './figures.js';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Raw bus entries/s: 1 KiB payloads (a batch of ticks), pipelined 256 at a time. */
async function busEntriesPerSecond(url: string | undefined): Promise<number> {
  const prefix = `bench-${randomBytes(4).toString('hex')}`;
  const bus = await openBus({ url, prefix, shards: 16 });
  const payload = randomBytes(1024);
  const batches = Array.from({ length: 256 }, (_, i) => ({ shard: i % 16, payload }));
  const runs: number[] = [];
  try {
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      for (let i = 0; i < 100; i++) await bus.ticks.publish(batches);
      runs.push((256 * 100) / ((performance.now() - started) / 1000));
    }
  } finally {
    await bus.close();
  }
  return median(runs);
}

/** Small write transactions/s, one at a time: what a verb with its audit record costs at least. */
async function transactionsPerSecond(url: string | undefined): Promise<number> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const db = await openDb({ url, schema });
  const runs: number[] = [];
  try {
    await db.query('create table bench_counter (id int primary key, n int8 not null)');
    await db.query('insert into bench_counter values (1, 0)');
    for (let run = 0; run < 3; run++) {
      const started = performance.now();
      for (let i = 0; i < 500; i++)
        await db.transaction(async (tx) => {
          await tx.query('update bench_counter set n = n + 1 where id = 1');
        });
      runs.push(500 / ((performance.now() - started) / 1000));
    }
    if (url) await db.query(`drop schema ${schema} cascade`);
  } finally {
    await db.close();
  }
  return median(runs);
}

export const platformSection: Section = {
  name: 'platform',
  async run(): Promise<Figures> {
    return {
      bus_entries_per_s_redis: {
        value: await busEntriesPerSecond(REDIS_URL),
        unit: 'entries/s',
        goal: 'baseline',
      },
      bus_entries_per_s_memory: {
        value: await busEntriesPerSecond(undefined),
        unit: 'entries/s',
        goal: 'baseline',
      },
      db_tx_per_s_postgres: {
        value: await transactionsPerSecond(POSTGRES_URL),
        unit: 'tx/s',
        goal: 'baseline',
      },
      db_tx_per_s_pglite: { value: await transactionsPerSecond(undefined), unit: 'tx/s', goal: 'baseline' },
    };
  },
};
