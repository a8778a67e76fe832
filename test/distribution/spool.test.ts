import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageSpool } from '../../distribution/spool.js';
import { SpoolFile } from '../../distribution/spool-file.js';
import { type Bus, openBus, type WorkStream } from '../../platform/bus/index.js';
import { type Logger, silentLogger } from '../../platform/logger.js';
import { parseUsageEvent, type UsageEvent } from '../../usage/index.js';
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

/** Every entry on `stream` so far, read through a group of its own. */
async function storedIds(stream: WorkStream, group: string): Promise<string[]> {
  await stream.ensureGroup(group);
  const consumer = stream.consumer(group, 'c');
  const ids: string[] = [];
  for (;;) {
    const entries = await consumer.read({ count: 1_000, blockMs: 0 });
    if (entries.length === 0) break;
    ids.push(...entries.map((entry) => parseUsageEvent(entry.payload).id));
  }
  await consumer.close();
  return ids;
}

/** A logger that keeps the messages of warnings and errors. */
function recordingLogger(): Logger & { messages: string[] } {
  const messages: string[] = [];
  const record = (_fields: unknown, msg?: string) => {
    messages.push(String(msg));
  };
  const logger = Object.create(silentLogger) as Logger & { messages: string[] };
  Object.assign(logger, { messages, warn: record, error: record });
  return logger;
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

describe('usage spool file', () => {
  it('keeps the events the bus refused on disk after a stop, and a later start sends them once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdhub-spool-'));
    bus = await openBus({ url: REDIS_URL, prefix });
    const stream = bus.work('usage');
    const refusing = flaky(stream, Number.POSITIVE_INFINITY);
    const file = await SpoolFile.open({ dir, logger: silentLogger });
    const spool = new UsageSpool({
      stream: refusing,
      max: 100,
      logger: silentLogger,
      file,
      retryMs: 10,
      maxRetryMs: 20,
    });
    for (let n = 0; n < 5; n++) spool.push(event(n));
    expect(await spool.drain(100)).toBe(5);
    await spool.close();
    expect(readFileSync(file.path, 'utf8').trim().split('\n')).toHaveLength(5);

    const again = await SpoolFile.open({ dir, logger: silentLogger });
    expect(again.path).toBe(file.path);
    const resent = new UsageSpool({ stream, max: 100, logger: silentLogger, file: again });
    expect(await resent.drain(5_000)).toBe(0);
    await resent.close();
    expect(await storedIds(stream, 'replayed')).toEqual(['q-0', 'q-1', 'q-2', 'q-3', 'q-4']);
    expect(readFileSync(again.path, 'utf8')).toBe('');
  });

  it('skips a last line cut short by a crash, with a warning, and replays each event id once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdhub-spool-'));
    const path = join(dir, 'edge-a.jsonl');
    const lines = [event(1), event(2), event(1)].map((e) => JSON.stringify(e));
    writeFileSync(path, `${lines.join('\n')}\n`);
    appendFileSync(path, JSON.stringify(event(3)).slice(0, 40));
    const logger = recordingLogger();
    const file = await SpoolFile.open({ dir, name: 'edge-a', logger });
    expect(file.replayed.map((line) => parseUsageEvent(line).id)).toEqual(['q-1', 'q-2']);
    expect(logger.messages).toContain(
      'skipped unreadable lines in the usage spool (a write cut short by a crash)',
    );
    // The file is whole again: what is appended next is a line of its own.
    file.append(JSON.stringify(event(4)));
    await file.close();
    const ids = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((line) => parseUsageEvent(line).id);
    expect(ids).toEqual(['q-1', 'q-2', 'q-4']);
  });

  it('never gives two edges the same file: a slot each by default, and a named one refused while in use', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdhub-spool-'));
    const first = await SpoolFile.open({ dir, logger: silentLogger });
    const second = await SpoolFile.open({ dir, logger: silentLogger });
    expect([first.path, second.path]).toEqual([join(dir, 'edge.jsonl'), join(dir, 'edge-2.jsonl')]);
    const named = await SpoolFile.open({ dir, name: 'edge-x', logger: silentLogger });
    await expect(SpoolFile.open({ dir, name: 'edge-x', logger: silentLogger })).rejects.toThrow(
      /edge-x\.jsonl is in use by another edge: give each edge its own MDHUB_EDGE_ID/,
    );
    // A lock left by a process that is gone (SIGKILL) is taken over.
    await first.close();
    writeFileSync(join(dir, 'edge.lock'), '2147483646\n');
    const taken = await SpoolFile.open({ dir, logger: silentLogger });
    expect(taken.path).toBe(join(dir, 'edge.jsonl'));
    for (const file of [second, named, taken]) await file.close();
    expect(existsSync(join(dir, 'edge.lock'))).toBe(false);
  });
});
