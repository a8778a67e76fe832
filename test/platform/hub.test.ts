import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { type Hub, ROLES, type Role, startHub } from '../../platform/hub.js';
import { silentLogger } from '../../platform/logger.js';
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

async function start(vars: Record<string, string>, extra: { dbSchema?: string; busPrefix?: string } = {}) {
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
    expect(metrics).toContain('mdhub_nodejs_heap_size_used_bytes');
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
});
