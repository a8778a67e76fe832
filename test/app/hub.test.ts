import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { type Hub, ROLES, type Role, startHub } from '../../app/hub.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { DrillRedis } from '../../drill/redis.js';
import { createLogger, type Logger, silentLogger } from '../../platform/logger.js';
import { cleanupRedisPrefix, POSTGRES_URL, REDIS_URL, uniqueName } from '../helpers/services.js';

interface Ready {
  checks: Record<string, unknown>;
}

const hubs: Hub[] = [];
const prefix = uniqueName('hub');

afterAll(async () => {
  for (const hub of hubs) await hub.stop();
  await cleanupRedisPrefix(prefix);
});

async function start(
  vars: Record<string, string>,
  extra: { dbSchema?: string; busPrefix?: string; logger?: Logger } = {},
) {
  const env = parseEnv({ PORT: '0', HOST: '127.0.0.1', MDHUB_LOG_LEVEL: 'silent', ...vars });
  const hub = await startHub({
    env,
    catalog: loadCatalog(),
    logger: silentLogger,
    roles: [],
    starters: {},
    ...extra,
  });
  hubs.push(hub);
  return hub;
}

describe('hub', () => {
  it('runs embedded with nothing set: PGlite under the data dir and the in-process bus', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mdhub-hub-'));
    const hub = await start({ MDHUB_DATA_DIR: dataDir });
    const health = await fetch(`http://127.0.0.1:${hub.port}/healthz`);
    expect(health.status).toBe(200);
    const ready = (await (await fetch(`http://127.0.0.1:${hub.port}/readyz`)).json()) as Ready;
    expect(ready.checks.database).toEqual({ ok: true, detail: 'pglite' });
    expect(ready.checks.bus).toEqual({ ok: true, detail: 'memory' });
  });

  it('uses REDIS_URL and DATABASE_URL when they are set', async () => {
    const hub = await start(
      { REDIS_URL, DATABASE_URL: POSTGRES_URL },
      { dbSchema: uniqueName('t_hub'), busPrefix: prefix },
    );
    const ready = (await (await fetch(`http://127.0.0.1:${hub.port}/readyz`)).json()) as Ready;
    expect(ready.checks.database).toEqual({ ok: true, detail: 'postgres' });
    expect(ready.checks.bus).toEqual({ ok: true, detail: 'redis' });
    const metrics = await (await fetch(`http://127.0.0.1:${hub.port}/metrics`)).text();
    expect(metrics).toContain('nodejs_heap_size_used_bytes');
  });

  it('stops the edge before the meter, so the meter commits what the edge flushed as it stopped', async () => {
    const stopped: string[] = [];
    const recorder = (role: Role) => async () => ({
      async stop() {
        stopped.push(role);
      },
    });
    const env = parseEnv({
      PORT: '0',
      HOST: '127.0.0.1',
      MDHUB_LOG_LEVEL: 'silent',
      MDHUB_DATA_DIR: mkdtempSync(join(tmpdir(), 'mdhub-hub-')),
    });
    const hub = await startHub({
      env,
      catalog: loadCatalog(),
      logger: silentLogger,
      roles: [...ROLES],
      starters: Object.fromEntries(ROLES.map((role) => [role, recorder(role)])),
    });
    await hub.stop();
    expect(stopped).toEqual(['edge', 'meter', 'ingest', 'api']);
  }, 60_000);

  it('refuses WebSocket upgrades on paths nobody registered', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mdhub-hub-'));
    const hub = await start({ MDHUB_DATA_DIR: dataDir });
    const client = new WebSocket(`ws://127.0.0.1:${hub.port}/nowhere`);
    const [error] = (await once(client, 'error')) as [Error];
    expect(error.message).toBe('Unexpected server response: 404');
  });

  it('answers /readyz 503 naming the bus while its Redis is down and 200 once it is back, logging the outage once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdhub-hub-redis-'));
    const redis = await DrillRedis.start(dir, 'none');
    const lines: Array<{ level: number; msg: string; check?: string }> = [];
    const logger = createLogger({
      level: 'debug',
      destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
    });
    type Readiness = { status: string; checks: Record<string, { ok: boolean; detail?: string }> };
    const ready = async (hub: Hub) => {
      const res = await fetch(`http://127.0.0.1:${hub.port}/readyz`);
      return { code: res.status, body: (await res.json()) as Readiness };
    };
    const until = async (what: string, test: () => Promise<boolean>) => {
      for (let k = 0; !(await test()); k++) {
        if (k > 300) throw new Error(`timed out waiting until ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const hub = await start(
        { REDIS_URL: redis.url, DATABASE_URL: POSTGRES_URL },
        { dbSchema: uniqueName('t_hub_outage'), busPrefix: `${prefix}:outage`, logger },
      );
      expect((await ready(hub)).code).toBe(200);

      await redis.child.kill('SIGKILL');
      await until('/readyz says not ready', async () => (await ready(hub)).code === 503);
      // Every request during the outage says the same, and none of them adds a log line.
      for (let k = 0; k < 5; k++) {
        const { code, body } = await ready(hub);
        expect(code).toBe(503);
        expect(body.status).toBe('not_ready');
        expect(body.checks.bus).toMatchObject({ ok: false, detail: expect.any(String) });
        expect(body.checks.database).toMatchObject({ ok: true });
      }

      redis.child.restart();
      await redis.waitUp();
      await until('/readyz says ready again', async () => (await ready(hub)).code === 200);
      expect((await ready(hub)).body.checks.bus).toEqual({ ok: true, detail: 'redis' });

      // One warning when it went, one line when it came back; the retries in between at debug.
      const outage = lines.filter((line) => line.level >= 40 || line.check !== undefined);
      expect(outage.map(({ level, check, msg }) => ({ level, check, msg }))).toEqual([
        { level: 40, check: 'bus', msg: 'bus is not ready' },
        { level: 30, check: 'bus', msg: 'bus is ready again' },
      ]);
    } finally {
      await redis.child.kill('SIGKILL');
    }
  });
});
