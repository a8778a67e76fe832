/**
 * REST benchmark (issue 16): `rest_snapshot_rps` is single-ticker snapshots answered per second by
 * one edge for a real-time user — authentication, the rate limit, the entitlement decision with
 * the session count, last values and the day's bars read from the bus, and a metered query each —
 * against `rest_bare_rps`, the same hub's Hono app answering a constant (`/healthz`), driven the
 * same way in the same run: 16 keep-alive connections from a worker thread, 3 s per run, medians
 * of 3 runs each. `BENCH_REST_ONLY=1` skips the constant (to profile the snapshot path alone).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { BarStore } from '../ingest/bar-store.js';
import { BarBuilder } from '../ingest/bars.js';
import { lastValueKey, serializeEvent, type Trade } from '../ingest/index.js';
import { silentLogger } from '../platform/logger.js';
import { benchUser, dropBenchSchema, startBenchHub } from './distribution.js';
import { type Figures, median, type Section } from './figures.js';
import type { LoadJob } from './rest-load.js';

const RUNS = 3;
const RUN_MS = 3_000;
const CONCURRENCY = 16;
const SYMBOL = 'AAPL';

function loadOnce(job: LoadJob): Promise<{ ok: number; failed: number; seconds: number }> {
  const worker = new Worker(new URL('./rest-load.js', import.meta.url), {
    workerData: job,
  });
  return new Promise((resolve, reject) => {
    worker.once('message', (result) => {
      void worker.terminate();
      resolve(result);
    });
    worker.once('error', reject);
  });
}

async function rate(port: number, path: string): Promise<number> {
  await loadOnce({ port, path, concurrency: CONCURRENCY, ms: 500 }); // warm-up
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { ok, failed, seconds } = await loadOnce({ port, path, concurrency: CONCURRENCY, ms: RUN_MS });
    if (failed > 0) throw new Error(`${failed} requests of ${path} failed`);
    rates.push(ok / seconds);
    await sleep(100);
  }
  return median(rates);
}

export const restSection: Section = {
  name: 'rest',
  async run(): Promise<Figures> {
    const schema = `bench_rest_${randomBytes(4).toString('hex')}`;
    const hub = await startBenchHub({
      redis: false,
      schema,
      prefix: 'unused',
      env: { MDHUB_REST_RATE: '100000', MDHUB_REST_BURST: '1000000' },
    });
    try {
      const token = await benchUser(hub, 'bench-rest', true);
      const now = Date.now();
      const trade: Trade = {
        ev: 'T',
        sym: SYMBOL,
        x: 4,
        i: '1',
        z: 3,
        p: 190,
        s: 100,
        c: undefined,
        t: now - 90_000,
        q: 1,
      };
      await hub.ctx.bus.kv.setFields(lastValueKey('T'), new Map([[SYMBOL, serializeEvent(trade)]]));
      // A day of bars for the symbol, as ingest stores them.
      const builder = new BarBuilder({
        sink: { bar: (bar, _tape, stored) => store.bar(bar.ev, bar.sym, stored) },
      });
      const store: BarStore = new BarStore({ kv: hub.ctx.bus.kv, builder, logger: silentLogger });
      const bars = builder.symbol(SYMBOL, 3);
      for (let k = 0; k < 60; k++) builder.trade(bars, 3, now - 120_000 + k * 1_000, 190 + k / 100, 100);
      builder.advance(now);
      await store.flush();
      const path = `/v2/snapshot/locale/us/markets/stocks/tickers/${SYMBOL}?apiKey=${token}`;
      const probe = await fetch(`http://127.0.0.1:${hub.port}${path}`);
      const body = (await probe.json()) as { ticker?: { mode?: string } };
      if (probe.status !== 200 || body.ticker?.mode !== 'realtime') {
        throw new Error(`snapshot probe answered ${probe.status} ${JSON.stringify(body).slice(0, 200)}`);
      }
      const snapshot = await rate(hub.port, path);
      const bare = process.env.BENCH_REST_ONLY === '1' ? 1 : await rate(hub.port, '/healthz');
      return {
        rest_snapshot_rps: { value: snapshot, unit: 'req/s', goal: 'baseline' },
        rest_bare_rps: { value: bare, unit: 'req/s', goal: 'baseline' },
        rest_snapshot_ratio_vs_bare: { value: snapshot / bare, unit: 'ratio', goal: '>= 0.5' },
      };
    } finally {
      await hub.stop();
      await dropBenchSchema(schema);
    }
  },
};
