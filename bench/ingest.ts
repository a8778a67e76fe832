/**
 * Ingest throughput: Polygon-format frames (JSON text, 50 events each, as the vendor sends them)
 * through the real pipeline — normalise, serialise, encode, batch — onto the bus, until the bus
 * has acknowledged every event. Frames are made up front by the synthetic market, so only the
 * ingest path is timed.
 */
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { createClient } from 'redis';
import { IngestPipeline } from '../ingest/pipeline.js';
import { IngestStats } from '../ingest/stats.js';
import { SyntheticMarket } from '../ingest/synthetic.js';
import { openBus } from '../platform/bus/index.js';
import { silentLogger } from '../platform/logger.js';
import { type Figures, median, type Section } from './figures.js';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 2_000_000);
const FRAME_EVENTS = 50;
/** Distinct frames, cycled: enough variety for realistic symbol spread without holding 2M events. */
const DISTINCT_FRAMES = 2_000;
/** The producer waits while this much is encoded but unacknowledged, as a socket read would. */
const BACKLOG_BYTES = 4 * 1024 * 1024;

function makeFrames(): string[] {
  const market = new SyntheticMarket({ symbols: 5_000, seed: 1 });
  const start = Date.now();
  return Array.from({ length: DISTINCT_FRAMES }, (_, k) => market.frame(FRAME_EVENTS, start + k));
}

interface Throughput {
  /** Events per wall-clock second. */
  wall: number;
  /** Events per CPU-second of this process (user + system): steadier than wall clock on a shared machine. */
  cpu: number;
}

async function throughput(url: string | undefined, frames: readonly string[]): Promise<Throughput> {
  const prefix = `bench-ingest-${randomBytes(4).toString('hex')}`;
  // Short streams: the bench writes gigabytes, and only throughput matters here.
  const bus = await openBus({ url, prefix, shards: 16, tickMaxLen: 100 });
  const wall: number[] = [];
  const cpu: number[] = [];
  try {
    for (let run = 0; run < 3; run++) {
      const stats = new IngestStats();
      const pipeline = new IngestPipeline({ bus, tapes: [1, 2, 3], stats, logger: silentLogger });
      pipeline.lastValues.start();
      const frameCount = Math.ceil(EVENTS / FRAME_EVENTS);
      const started = performance.now();
      const cpuStarted = process.cpuUsage();
      for (let k = 0; k < frameCount; k++) {
        pipeline.frame(frames[k % frames.length]);
        if (pipeline.publisher.pendingBytes > BACKLOG_BYTES || k % 64 === 63) await yieldToLoop();
      }
      await pipeline.publisher.drain();
      const seconds = (performance.now() - started) / 1000;
      const used = process.cpuUsage(cpuStarted);
      const cpuSeconds = (used.user + used.system) / 1e6;
      await pipeline.lastValues.stop();
      // The vendor's events (the synthetic market sends LULD bands too); the hub's own bars are extra.
      const published = stats.published.T + stats.published.Q + stats.published.LULD;
      const lost = Object.values(stats.dropped).reduce((a, b) => a + b, 0);
      if (published !== frameCount * FRAME_EVENTS || lost > 0) {
        throw new Error(
          `ingest bench published ${published} of ${frameCount * FRAME_EVENTS} events (${lost} dropped)`,
        );
      }
      wall.push(published / seconds);
      cpu.push(published / cpuSeconds);
    }
  } finally {
    await bus.close();
    if (url) await deleteKeys(url, prefix);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = createClient({ url });
  await client.connect();
  try {
    for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) {
      if (keys.length) await client.del(keys);
    }
  } finally {
    client.destroy();
  }
}

export const ingestSection: Section = {
  name: 'ingest',
  async run(): Promise<Figures> {
    const frames = makeFrames();
    const redis = await throughput(REDIS_URL, frames);
    const memory = await throughput(undefined, frames);
    return {
      ingest_events_per_s: { value: redis.wall, unit: 'events/s', goal: '>= 500000' },
      ingest_events_per_cpu_s: { value: redis.cpu, unit: 'events/CPU-s', goal: 'baseline' },
      ingest_events_per_s_memory: { value: memory.wall, unit: 'events/s', goal: 'baseline' },
      ingest_events_per_cpu_s_memory: { value: memory.cpu, unit: 'events/CPU-s', goal: 'baseline' },
    };
  },
};
