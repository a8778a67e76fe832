import { afterEach, describe, expect, it } from 'vitest';
import { parseUsageEvent, type UsageEvent } from '../../distribution/index.js';
import { UsageSpool } from '../../distribution/spool.js';
import { type Bus, openBus, type WorkStream } from '../../platform/bus/index.js';
import { silentLogger } from '../../platform/logger.js';
import { cleanupRedisPrefix, REDIS_URL, uniqueName } from '../helpers/services.js';
import { until } from './helpers.js';

const prefix = uniqueName('dist_spool');
let bus: Bus | undefined;

afterEach(async () => {
  await bus?.close();
  await cleanupRedisPrefix(prefix);
});

function event(n: number): UsageEvent {
  return {
    v: 1,
    id: `q-${n}`,
    kind: 'query',
    edge: 'e1',
    at: 1_700_000_000_000 + n,
    day: '2023-11-14',
    user: 'u1',
    device: null,
    product: 'UTP',
    symbol: 'AAPL',
    type: 'Q',
    mode: 'realtime',
    requestId: `r-${n}`,
  };
}

/** The real usage stream, refusing the first `failures` writes the way an unreachable Redis does. */
function flaky(stream: WorkStream, failures: number): WorkStream & { attempts: number } {
  let left = failures;
  const wrapper = Object.create(stream) as WorkStream & { attempts: number };
  wrapper.attempts = 0;
  wrapper.add = async (payloads) => {
    wrapper.attempts++;
    if (left-- > 0) throw new Error('connection refused');
    return stream.add(payloads);
  };
  return wrapper;
}

describe('usage spool', () => {
  it('keeps events the bus refused and delivers each of them once the bus takes them', async () => {
    bus = await openBus({ url: REDIS_URL, prefix });
    const stream = bus.work('usage');
    const failing = flaky(stream, 3);
    const spool = new UsageSpool({
      stream: failing,
      max: 10,
      logger: silentLogger,
      retryMs: 10,
      maxRetryMs: 20,
    });
    for (let n = 0; n < 25; n++) spool.push(event(n));
    expect(spool.size).toBe(25);
    expect(spool.full).toBe(true);
    expect(await spool.drain(5_000)).toBe(0);
    expect(spool.full).toBe(false);
    expect(failing.attempts).toBeGreaterThan(3);
    await stream.ensureGroup('check');
    const consumer = stream.consumer('check', 'c');
    const stored: UsageEvent[] = [];
    await until(async () => {
      stored.push(
        ...(await consumer.read({ count: 100, blockMs: 0 })).map((entry) => parseUsageEvent(entry.payload)),
      );
      return stored.length >= 25;
    }, 'every event');
    expect(stored.map((e) => e.id)).toEqual(Array.from({ length: 25 }, (_, n) => `q-${n}`));
    await consumer.close();
  });
});
