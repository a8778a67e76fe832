import { once } from 'node:events';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { freePort, runCli, spawnCli, waitForOk } from '../../testing/cli.js';

const dataDir = () => mkdtempSync(join(tmpdir(), 'mdhub-cli-'));

describe('mdhub CLI', () => {
  it('prints usage with --help, and help for each command', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/Usage: mdhub <command>/);
    expect(top.stdout).toMatch(/start +run the hub/);
    const start = await runCli(['start', '--help']);
    expect(start.code).toBe(0);
    expect(start.stdout).toMatch(/--roles ingest,edge,meter,api/);
    const migrate = await runCli(['migrate', '--help']);
    expect(migrate.stdout).toMatch(/Usage: mdhub migrate/);
  });

  it('fails with one line and status 1 on PORT=abc', async () => {
    const result = await runCli(['start'], { PORT: 'abc', MDHUB_DATA_DIR: dataDir() });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'mdhub: invalid environment: PORT must be a whole number from 0 to 65535 (got "abc")\n',
    );
  });

  it('refuses a port already in use before it touches the data directory', async () => {
    const port = await freePort();
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(port, '127.0.0.1', resolve));
    try {
      const dir = join(dataDir(), 'data');
      const result = await runCli(['start'], { PORT: String(port), HOST: '127.0.0.1', MDHUB_DATA_DIR: dir });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `mdhub: PORT ${port} is already in use on 127.0.0.1: another mdhub or another program listens there; stop it or set PORT\n`,
      );
      // Nothing migrated, no admin created, no billing month closed: the directory was never made.
      expect(existsSync(dir)).toBe(false);
    } finally {
      busy.close();
    }
  });

  it('fails with one line on a malformed REDIS_URL', async () => {
    const result = await runCli(['start'], { REDIS_URL: 'not a url', MDHUB_DATA_DIR: dataDir() });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/REDIS_URL must be a Redis URL/);
  });

  it('exits 1 naming REDIS_URL when Redis cannot be reached at boot, instead of waiting for ever', async () => {
    // Without a bound on the retries this never exits, and runCli gives up after 60 s.
    const result = await runCli(
      ['start'],
      {
        REDIS_URL: 'redis://:hunter2@127.0.0.1:1',
        MDHUB_CONNECT_RETRY_MS: '1000',
        PORT: '0',
        MDHUB_DATA_DIR: dataDir(),
      },
      60_000,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^mdhub: cannot reach Redis at REDIS_URL=redis:\/\/:\*\*\*@127\.0\.0\.1:1 after [\d.]+ s \(.*ECONNREFUSED.*\)\n$/,
    );
    expect(result.stderr + result.stdout).not.toContain('hunter2');
  }, 90_000); // the embedded database is created and migrated first: slow on a busy machine

  it('exits 1 naming REDIS_CLUSTER_URLS when no seed node answers at boot', async () => {
    const result = await runCli(
      ['start'],
      {
        REDIS_CLUSTER_URLS: 'redis://:hunter2@127.0.0.1:1,redis://127.0.0.1:2',
        MDHUB_CONNECT_RETRY_MS: '1000',
        PORT: '0',
        MDHUB_DATA_DIR: dataDir(),
      },
      60_000,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^mdhub: cannot reach Redis Cluster \(2 seed nodes\) at REDIS_CLUSTER_URLS=redis:\/\/:\*\*\*@127\.0\.0\.1:1 after [\d.]+ s \(.+\)\n$/,
    );
    expect(result.stderr + result.stdout).not.toContain('hunter2');
  }, 90_000);

  it('fails with one line when REDIS_URL and REDIS_CLUSTER_URLS are both set', async () => {
    const result = await runCli(['start'], {
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_CLUSTER_URLS: 'redis://127.0.0.1:7000',
      MDHUB_DATA_DIR: dataDir(),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^mdhub: invalid environment: REDIS_CLUSTER_URLS must not be set together with REDIS_URL[^\n]*\n$/,
    );
  });

  it('exits 1 naming DATABASE_URL when PostgreSQL cannot be reached, for the hub and for commands', async () => {
    const env = {
      DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/x',
      MDHUB_CONNECT_RETRY_MS: '1000',
      PORT: '0',
    };
    for (const args of [['start'], ['migrate']]) {
      const result = await runCli(args, env, 60_000);
      expect(result.code, args[0]).toBe(1);
      expect(result.stderr).toMatch(
        /^mdhub: cannot reach PostgreSQL at DATABASE_URL=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/x after [\d.]+ s \(ECONNREFUSED\)\n$/,
      );
      expect(result.stderr + result.stdout).not.toContain('hunter2');
    }
  });

  it('refuses an unknown command, flag or role with status 2', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const flag = await runCli(['start', '--rolez', 'edge']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^mdhub: .*--rolez.*\(see mdhub start --help\)\n$/);
    const role = await runCli(['start', '--roles', 'edge,juggler']);
    expect(role.code).toBe(2);
    expect(role.stderr).toBe('mdhub: unknown role juggler; roles are ingest, edge, meter, api\n');
  });

  it('migrates, and migrating again applies nothing', async () => {
    const dir = dataDir();
    const first = await runCli(['migrate'], { MDHUB_DATA_DIR: dir });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^applied /);
    const second = await runCli(['migrate'], { MDHUB_DATA_DIR: dir });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('database is up to date\n');
  });

  it('starts with no environment, answers /healthz, and stops cleanly on SIGTERM within 5 s, clients connected', async () => {
    const port = await freePort();
    const child = spawnCli(['start'], { PORT: String(port), HOST: '127.0.0.1', MDHUB_DATA_DIR: dataDir() });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d;
    });
    try {
      await waitForOk(`http://127.0.0.1:${port}/healthz`);
      const client = new WebSocket(`ws://127.0.0.1:${port}/stocks`);
      const [greeting] = await once(client, 'message');
      expect(String(greeting)).toContain('"status":"connected"');
      const closed = once(client, 'close');
      child.kill('SIGTERM');
      // The CLI exits 1 by itself when a shutdown overruns 5 s, so status 0 proves the limit held.
      const [code] = await once(child, 'exit');
      expect(code, stderr).toBe(0);
      const [closeCode] = await closed;
      expect(closeCode).toBe(1001);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
