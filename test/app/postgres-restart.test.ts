/**
 * PostgreSQL restarted under load, with the built CLI as operators run it against a PostgreSQL of
 * the test's own (initdb into a temporary directory; the machine's server is never touched): while
 * it is down the admin API answers 503 `database_unavailable` naming DATABASE_URL, `/readyz` says
 * not ready naming the database, real time keeps flowing from the edge's entitlement cache, and the
 * meter backs off; once it is back, every real-time delivery the client received is in the ledger
 * once, and nothing was dead-lettered.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../drill/admin.js';
import {
  freePort,
  type PrivatePostgres,
  privatePostgresUnavailable,
  spawnCli,
  startPrivatePostgres,
  waitForOk,
} from '../../testing/index.js';
import { Client, until, waitForToken } from '../distribution/helpers.js';

const UNAVAILABLE = privatePostgresUnavailable();
if (UNAVAILABLE) console.warn(`PostgreSQL restart test skipped: ${UNAVAILABLE}`);

const USER = 'pg-restart-pro';
let server: PrivatePostgres | undefined;
let hub: ReturnType<typeof spawnCli> | undefined;

afterAll(async () => {
  if (hub && hub.exitCode === null) {
    hub.kill('SIGKILL');
    await once(hub, 'exit');
  }
  await server?.destroy();
});

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

async function ledger(url: string) {
  const db = new pg.Client(url);
  await db.connect();
  try {
    const daily = await db.query<{ deliveries: string }>(
      'select coalesce(sum(deliveries), 0)::int8 as deliveries from usage_daily where user_id = $1',
      [USER],
    );
    const dead = await db.query<{ n: string }>('select count(*)::int8 as n from usage_dead_letters');
    return { deliveries: Number(daily.rows[0]?.deliveries), deadLetters: Number(dead.rows[0]?.n) };
  } finally {
    await db.end();
  }
}

describe.skipIf(UNAVAILABLE !== undefined)('PostgreSQL restarted under load', () => {
  it('answers 503 and not ready while it is down, keeps real time from the cache, and counts every delivery once after', async () => {
    server = await startPrivatePostgres();
    const port = await freePort();
    const adminToken = `mdo_${randomBytes(24).toString('base64url')}`;
    let output = '';
    hub = spawnCli(['start'], {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: server.url,
      MDHUB_DATA_DIR: mkdtempSync(join(tmpdir(), 'mdhub-pg-restart-')),
      MDHUB_ADMIN_TOKEN: adminToken,
      MDHUB_SYNTHETIC_SYMBOLS: '40',
      MDHUB_SYNTHETIC_RATE: '600',
      // Usage leaves the edge every second, so batches reach the meter while the database is down.
      MDHUB_USAGE_FLUSH_MS: '1000',
      // Decisions stay proven for 2 × 5 s: a restart of a few seconds does not withhold real time.
      MDHUB_ENTITLEMENT_VERIFY_MS: '5000',
    });
    hub.stdout?.on('data', (d: Buffer) => {
      output += d;
    });
    hub.stderr?.on('data', (d: Buffer) => {
      output += d;
    });
    await waitForOk(`http://127.0.0.1:${port}/healthz`, 60_000);
    const admin = new AdminClient(`http://127.0.0.1:${port}`, adminToken);
    await admin.createUser(USER, 'professional');
    for (const product of ['CTA_A', 'CTA_B', 'UTP']) {
      await admin.acceptAgreement(USER, product);
      await admin.grant(USER, product);
    }
    const token = await admin.issueToken(USER);
    await waitForToken(port, token);
    const client = await Client.authenticated(port, token);
    expect((await client.subscribe('Q.*'))[0]).toMatchObject({ mode: 'realtime' });
    await until(() => client.events('Q').length >= 100, 'real-time quotes streaming', 15_000);
    const statusesBefore = client.statuses().length;

    await server.kill();
    await until(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 503,
      '/readyz to say not ready',
      10_000,
    );
    const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as {
      status: string;
      checks: Record<string, { ok: boolean; detail?: string }>;
    };
    expect(ready.status).toBe('not_ready');
    expect(ready.checks.database?.ok).toBe(false);
    const refused = await fetch(`http://127.0.0.1:${port}/admin/users/${USER}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('database_unavailable');
    expect(body.error.message).toContain('DATABASE_URL');
    // Real time goes on from the edge's cache, and the meter's batches fail and back off.
    const during = client.events('Q').length;
    await until(() => client.events('Q').length > during + 100, 'quotes while the database is down', 10_000);
    await until(
      async () => (await metric(port, 'mdhub_meter_retry_delay_seconds')) > 0,
      'the meter to back off',
      10_000,
    );
    await sleep(1_000);

    await server.start();
    await until(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
      '/readyz to say ready again',
      15_000,
    );
    expect(
      (
        await fetch(`http://127.0.0.1:${port}/admin/users/${USER}`, {
          headers: { authorization: `Bearer ${adminToken}` },
        })
      ).status,
    ).toBe(200);
    // No mode change was sent: the restart never took real time away.
    expect(client.statuses().slice(statusesBefore)).toEqual([]);

    // Unsubscribed before closing, so no quote is in flight when the socket closes: what the edge
    // counted and what the client received are then the same frames.
    client.send({ action: 'unsubscribe', params: 'Q.*' });
    let seen = -1;
    await until(
      async () => {
        const now = client.events('Q').length;
        const quiet = now === seen;
        seen = now;
        if (!quiet) await sleep(500);
        return quiet;
      },
      'the stream to stop after the unsubscribe',
      15_000,
    );
    client.close();
    await client.waitClosed();
    const received = client.events('Q').length;
    await until(
      async () => (await ledger(server?.url as string)).deliveries === received,
      `the ledger to hold the ${received} deliveries`,
      30_000,
    ).catch(async (error: Error) => {
      throw new Error(
        `${error.message}: it holds ${(await ledger(server?.url as string)).deliveries}\n${output.slice(-3000)}`,
      );
    });
    expect((await ledger(server.url)).deadLetters).toBe(0);
    expect(await metric(port, 'mdhub_meter_batch_failures_total')).toBeGreaterThan(0);
    expect(await metric(port, 'mdhub_meter_retry_delay_seconds')).toBe(0);
  }, 180_000);
});
