/**
 * What a stop or a crash does to usage, with the built CLI as operators run it: a client streams
 * real time from a hub, the hub is stopped (SIGTERM) or killed (SIGKILL while its Redis is down),
 * and the ledger in the hub's own database must hold every delivery the client received and the
 * session's end — once.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminClient } from '../../drill/admin.js';
import { DrillRedis } from '../../drill/redis.js';
import { openConfiguredDb } from '../../platform/db/index.js';
import { freePort, spawnCli, waitForOk } from '../../testing/cli.js';
import { Client, until, waitForToken } from '../distribution/helpers.js';

const PRODUCTS = ['CTA_A', 'CTA_B', 'UTP'];
/** A hub's start (PGlite, migrations) on a loaded machine. */
const STARTUP_MS = 60_000;

interface Running {
  child: ReturnType<typeof spawnCli>;
  output: () => string;
  exited: Promise<number | null>;
}

const children: Running[] = [];
let redis: DrillRedis | undefined;

afterEach(async () => {
  for (const running of children.splice(0)) running.child.kill('SIGKILL');
  await redis?.child.kill('SIGKILL');
  redis = undefined;
});

function startHub(env: Record<string, string>): Running {
  const child = spawnCli(['start'], env);
  // Its log (pino, on stdout) and anything it says on stderr.
  let output = '';
  const collect = (d: Buffer) => {
    output += d;
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const running = { child, output: () => output, exited };
  children.push(running);
  return running;
}

/** A user with real time on every product, and a client streaming every quote in real time. */
async function streamingClient(port: number, adminToken: string, user: string): Promise<Client> {
  const admin = new AdminClient(`http://127.0.0.1:${port}`, adminToken);
  await admin.createUser(user, 'professional');
  for (const product of PRODUCTS) {
    await admin.acceptAgreement(user, product);
    await admin.grant(user, product);
  }
  const token = await admin.issueToken(user);
  await waitForToken(port, token);
  const client = await Client.authenticated(port, token);
  const [status] = await client.subscribe('Q.*');
  expect(status).toMatchObject({ mode: 'realtime' });
  await until(() => client.events('Q').length >= 200, 'real-time quotes streaming', 15_000);
  return client;
}

/** What the ledger in the hub's data dir holds for `user` (the hub must have exited). */
async function ledgerOf(dataDir: string, user: string) {
  const db = await openConfiguredDb({ dataDir, connectRetryMs: 0 });
  try {
    const daily = await db.query<{ deliveries: number }>(
      'select coalesce(sum(deliveries), 0)::int8 as deliveries from usage_daily where user_id = $1',
      [user],
    );
    const sessions = await db.query<{ closed_at: number | null; close_reason: string | null }>(
      'select closed_at, close_reason from usage_sessions where user_id = $1',
      [user],
    );
    return { deliveries: Number(daily.rows[0]?.deliveries), sessions: sessions.rows };
  } finally {
    await db.close();
  }
}

function hubEnv(port: number, dataDir: string, adminToken: string): Record<string, string> {
  return {
    PORT: String(port),
    HOST: '127.0.0.1',
    MDHUB_DATA_DIR: dataDir,
    MDHUB_ADMIN_TOKEN: adminToken,
    MDHUB_SYNTHETIC_SYMBOLS: '60',
    MDHUB_SYNTHETIC_RATE: '1000',
  };
}

describe('usage across a stop or a crash', () => {
  it('a SIGTERM mid-stream in the embedded default puts every real-time delivery and the session end in the ledger', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mdhub-sigterm-'));
    const port = await freePort();
    const adminToken = `mdo_${randomBytes(24).toString('base64url')}`;
    const hub = startHub(hubEnv(port, dataDir, adminToken));
    await waitForOk(`http://127.0.0.1:${port}/healthz`, STARTUP_MS);
    const client = await streamingClient(port, adminToken, 'sigterm-pro');

    hub.child.kill('SIGTERM');
    // The CLI exits 1 by itself when a shutdown overruns 5 s, so status 0 proves the limit held.
    expect(await hub.exited, hub.output()).toBe(0);
    expect((await client.waitClosed()).code).toBe(1001);

    const ledger = await ledgerOf(dataDir, 'sigterm-pro');
    expect(ledger.deliveries).toBe(client.events('Q').length);
    expect(ledger.sessions).toEqual([{ closed_at: expect.any(Number), close_reason: 'shutdown' }]);
  }, 120_000);

  it('usage spooled while Redis is down survives a SIGKILL and reaches the ledger once, even replayed twice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdhub-spool-kill-'));
    const dataDir = join(dir, 'data');
    const spoolFile = join(dataDir, 'spool', 'edge.jsonl');
    redis = await DrillRedis.start(dir, 'none');
    const port = await freePort();
    const adminToken = `mdo_${randomBytes(24).toString('base64url')}`;
    const env = { ...hubEnv(port, dataDir, adminToken), REDIS_URL: redis.url };
    const first = startHub(env);
    await waitForOk(`http://127.0.0.1:${port}/healthz`, STARTUP_MS);
    const client = await streamingClient(port, adminToken, 'spool-pro');
    // The session's start is in the ledger before Redis goes: this Redis keeps nothing across a restart.
    await until(
      async () => {
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        return /mdhub_meter_events_total\{kind="session_open"\} 1\b/.test(metrics);
      },
      'the meter to count the session',
      10_000,
    );

    await redis.child.kill('SIGKILL');
    client.close();
    await client.waitClosed();
    const received = client.events('Q').length;
    // The session's last counters and its end, refused by the bus, wait in the spool file.
    await until(
      () => readFileSync(spoolFile, 'utf8').includes('"kind":"session_close"'),
      'the session end in the spool file',
      10_000,
    );
    const spooled = readFileSync(spoolFile, 'utf8');
    expect(spooled).toContain('"kind":"deliveries"');
    await first.child.kill('SIGKILL');
    await first.exited;

    redis.child.restart();
    await redis.waitUp();
    const second = startHub(env);
    await waitForOk(`http://127.0.0.1:${port}/healthz`, STARTUP_MS);
    await until(() => readFileSync(spoolFile, 'utf8') === '', 'the spool to reach the bus', 10_000);
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output()).toBe(0);
    const afterReplay = await ledgerOf(dataDir, 'spool-pro');
    expect(afterReplay.deliveries).toBe(received);
    expect(afterReplay.sessions).toEqual([{ closed_at: expect.any(Number), close_reason: 'client' }]);

    // A crash after the bus stored the events but before the file was emptied replays them again;
    // a write cut short by the crash leaves half a line at the end.
    writeFileSync(spoolFile, spooled);
    appendFileSync(spoolFile, '{"v":1,"id":"cut-short","kind":"deliv');
    const third = startHub(env);
    await waitForOk(`http://127.0.0.1:${port}/healthz`, STARTUP_MS);
    await until(() => readFileSync(spoolFile, 'utf8') === '', 'the replay to reach the bus', 10_000);
    third.child.kill('SIGTERM');
    expect(await third.exited, third.output()).toBe(0);
    expect(third.output()).toContain('skipped unreadable lines in the usage spool');
    expect(await ledgerOf(dataDir, 'spool-pro')).toEqual(afterReplay);
  }, 240_000);

  it('a SIGTERM while the hub is still starting stops it cleanly once it is up', async () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'mdhub-early-term-')), 'data');
    const port = await freePort();
    const hub = startHub(hubEnv(port, dataDir, `mdo_${randomBytes(24).toString('base64url')}`));
    // The lock is taken as the database opens: the hub is past its signal set-up, not yet up.
    await until(
      () => existsSync(join(dataDir, 'hub.lock')),
      'the hub to begin opening its database',
      STARTUP_MS,
    );
    hub.child.kill('SIGTERM');
    expect(await hub.exited, hub.output()).toBe(0);
    expect(hub.output()).toContain('signal while starting');
    expect(existsSync(join(dataDir, 'hub.lock'))).toBe(false);
  }, 120_000);
});
