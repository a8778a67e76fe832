import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, openBus } from '../../platform/bus/index.js';
import { freePort, spawnCli, waitForOk } from '../../testing/cli.js';
import { FakePolygonServer } from '../../testing/polygon-server.js';
import { cleanupRedisPrefix, POSTGRES_URL, REDIS_URL, uniqueName } from '../helpers/services.js';
import { quote, waitUntil, watchTicks } from './events.js';

const KEY = 'failover-test-key';
const prefix = uniqueName('ingest_failover');

let server: FakePolygonServer;
let bus: Bus;
const children: ChildProcess[] = [];

beforeAll(async () => {
  server = await FakePolygonServer.start({ key: KEY });
  let n = 0;
  server.stream(() => [quote(`S${n++ % 100}`)], 20);
  bus = await openBus({ url: REDIS_URL, prefix, shards: 4 });
});

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await bus.close();
  await server.close();
  await cleanupRedisPrefix(prefix);
});

async function startProcess(): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = spawnCli(['start', '--roles', 'ingest'], {
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL,
    DATABASE_URL: POSTGRES_URL,
    MDHUB_REDIS_PREFIX: prefix,
    MDHUB_SHARDS: '4',
    POLYGON_API_KEY: KEY,
    POLYGON_WS_URL: server.url,
  });
  children.push(child);
  await waitForOk(`http://127.0.0.1:${port}/healthz`);
  return { child, port };
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

async function isLeader(port: number): Promise<boolean> {
  return /^mdhub_ingest_leader 1$/m.test(await metrics(port));
}

describe('two ingest processes', () => {
  it('keep exactly one authenticated vendor connection, and the standby takes over on the socket it held open when the leader dies', async () => {
    const [a, b] = await Promise.all([startProcess(), startProcess()]);
    await waitUntil('one process is subscribed', () => server.subscribed === 1, 15_000);
    // The standby holds its vendor socket open, unauthenticated: Polygon does not count it.
    await waitUntil('the standby socket is open', () => server.open === 2, 15_000);
    expect(server.authenticated).toBe(1);
    const leaders = await Promise.all([isLeader(a.port), isLeader(b.port)]);
    expect(leaders.filter(Boolean)).toHaveLength(1);
    const [leader, standby] = leaders[0] ? [a, b] : [b, a];
    const ready = (await (await fetch(`http://127.0.0.1:${standby.port}/readyz`)).json()) as {
      checks: Record<string, unknown>;
    };
    expect(ready.checks.feed).toEqual({ ok: true, detail: expect.stringMatching(/^standby/) });

    const ticks = watchTicks(bus.ticks);
    try {
      await waitUntil('events arrive from the leader', () => ticks.events.length >= 10);
      const connectionsBefore = server.connections;
      const authBefore = server.authAttempts;

      leader.child.kill('SIGKILL');
      await waitUntil(
        'the standby is connected',
        () => server.subscribed === 1 && server.authAttempts > authBefore,
        15_000,
      );
      expect(await isLeader(standby.port)).toBe(true);
      // It authenticated on the socket it already had: no connection was opened at takeover.
      expect(server.connections).toBe(connectionsBefore);

      const seen = ticks.events.length;
      await waitUntil('events keep arriving from the new leader', () => ticks.events.length >= seen + 10);
      const text = await metrics(standby.port);
      expect(text).toMatch(/^mdhub_ingest_elections_total 1$/m);
      expect(text).toMatch(/^mdhub_ingest_takeover_seconds_count 1$/m);
    } finally {
      await ticks.close();
    }
    expect(server.maxSimultaneous).toBe(1);

    standby.child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => standby.child.once('exit', resolve));
    expect(code).toBe(0);
    expect(server.authenticated).toBe(0);
  }, 40_000);
});
