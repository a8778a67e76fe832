import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, runCli, spawnCli, waitForOk } from '../../testing/cli.js';

const TOKEN = 'one-writer-admin-token-0123456789';
const MONTH = '2026-03';
/** Opening PGlite compiles its WebAssembly: slow on a busy machine, so process steps get room. */
const SLOW = 150_000;

/** Polls until the hub has written its admin API address into the data-directory lock. */
async function waitForAdvertised(dir: string): Promise<{ pid: number; adminUrl: string }> {
  for (let i = 0; i < 300; i++) {
    const text = await readFile(join(dir, 'hub.lock'), 'utf8').catch(() => '');
    if (text) {
      const lock = JSON.parse(text) as { pid: number; adminUrl?: string };
      if (lock.adminUrl) return { pid: lock.pid, adminUrl: lock.adminUrl };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the hub never advertised its admin API in hub.lock');
}

/** A pid that ran and is gone: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawnCli(['--help']);
  await once(child, 'exit');
  return child.pid as number;
}

/**
 * The embedded database has one writer. A real hub runs (`mdhub start`, PGlite under a temp
 * MDHUB_DATA_DIR) and commands run beside it as operators run them, in their own processes.
 */
describe('commands beside a running embedded hub', { timeout: 2 * SLOW }, () => {
  let dir: string;
  let env: Record<string, string>;
  let hub: ChildProcess;
  let hubPid: number;
  let base: string;
  let hubStderr = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-one-writer-'));
    const port = await freePort();
    env = { MDHUB_DATA_DIR: dir, MDHUB_ADMIN_TOKEN: TOKEN, MDHUB_SYNTHETIC_RATE: '50' };
    hub = spawnCli(['start'], { ...env, PORT: String(port), HOST: '127.0.0.1' });
    hub.stderr?.on('data', (d: Buffer) => {
      hubStderr += d;
    });
    await waitForOk(`http://127.0.0.1:${port}/healthz`, SLOW);
    const lock = await waitForAdvertised(dir);
    hubPid = lock.pid;
    base = lock.adminUrl;
  }, SLOW);

  afterAll(async () => {
    hub?.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records the hub in the lock file: its pid and its admin API', () => {
    expect(hubPid).toBe(hub.pid);
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('a second mdhub start on the same data directory is refused with one line', async () => {
    const second = await runCli(
      ['start'],
      { ...env, PORT: String(await freePort()), HOST: '127.0.0.1' },
      SLOW,
    );
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(
      `mdhub: the hub (pid ${hubPid}) holds ${dir}; stop it first, or give this one its own MDHUB_DATA_DIR\n`,
    );
  });

  it('without a token a command is refused with one line and exit 1, and opens no second database', async () => {
    const { MDHUB_ADMIN_TOKEN: _, ...noToken } = env;
    const before = await readFile(join(dir, 'hub.lock'), 'utf8');
    const report = await runCli(['report', 'usage', '--month', MONTH], noToken);
    expect(report.code).toBe(1);
    expect(report.stdout).toBe('');
    expect(report.stderr).toBe(
      `mdhub: the hub (pid ${hubPid}) holds ${dir}; stop it first, or set MDHUB_OPERATOR_TOKEN ` +
        '(or MDHUB_ADMIN_TOKEN) to run this through its admin API\n',
    );
    const migrate = await runCli(['migrate'], env);
    expect(migrate.code).toBe(1);
    expect(migrate.stderr).toBe(`mdhub: the hub (pid ${hubPid}) holds ${dir}; stop it first\n`);
    // The hub's lock is untouched: nobody took the directory over or released it.
    expect(await readFile(join(dir, 'hub.lock'), 'utf8')).toBe(before);
  });

  it('bad input is refused with the same line and exit status as when no hub runs', async () => {
    const run = await runCli(['report', 'usage', '--month', '2026-13'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe("mdhub: --month must be written YYYY-MM, got '2026-13'\n");
  });

  it('mdhub audit verify, export and checkpoint go through the admin API', async () => {
    const verify = await runCli(['audit', 'verify'], env);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^audit log intact: \d+ records, agreeing with \d+ signed checkpoints\n$/);

    const json = await runCli(['audit', 'verify', '--json'], env);
    const api = await fetch(`${base}/admin/audit/verify`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(json.stdout).toBe(`${await api.text()}\n`);

    const checkpoint = await runCli(['audit', 'checkpoint'], env);
    expect(checkpoint.stderr).toBe('');
    expect(checkpoint.stdout).toMatch(
      /^checkpoint signed at record \d+ \([0-9a-f]{64}\) in .*checkpoints\.jsonl\n$/,
    );

    const exported = await runCli(['audit', 'export'], env);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trim().split('\n');
    expect(exported.stderr).toBe(`exported ${lines.length} audit records\n`);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ seq: 1 });
  });

  it('mdhub report file, filings, diff and amend go through the admin API', async () => {
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    const filed = await runCli(['report', 'file', '--month', MONTH], env);
    expect(filed.stderr).toBe('');
    expect(filed.code).toBe(0);
    const id = Number(/^filing (\d+): 2026-03, all licensors, /.exec(filed.stdout)?.[1]);
    expect(filed.stdout).toMatch(/ by operator admin \(admin\), audit record \d+\n/);

    const json = await runCli(['report', 'filings', '--month', MONTH, '--json'], env);
    const api = (await (await fetch(`${base}/admin/reports/filings?month=${MONTH}`, auth)).json()) as {
      filings: unknown[];
    };
    expect((JSON.parse(json.stdout) as { filings: unknown[] }).filings).toEqual(api.filings);
    expect(api.filings).toEqual([expect.objectContaining({ id, matchesLive: true, replacedBy: null })]);

    const bytes = await runCli(
      ['report', 'filings', '--id', String(id), '--format', 'json', '--detail'],
      env,
    );
    const stored = await fetch(`${base}/admin/reports/filings/${id}?format=json&detail=1`, auth);
    expect(bytes.stdout).toBe(await stored.text());
    expect(bytes.stderr).toBe(`filing ${id}: sha256 ${stored.headers.get('x-report-sha256')}\n`);

    const diff = await runCli(['report', 'diff', '--month', MONTH], env);
    expect(diff.stdout).toMatch(
      /^2026-03 \(all licensors\): the live report still matches filing \d+, filed \S+, byte for byte\n$/,
    );

    const amend = await runCli(['report', 'amend', '--month', MONTH, '--reason', 'nothing changed'], env);
    expect(amend.code).toBe(1);
    expect(amend.stderr).toBe(
      `mdhub: the live report of 2026-03 (all licensors) is still byte for byte filing ${id}: there is nothing to amend\n`,
    );
    const twice = await runCli(['report', 'file', '--month', MONTH], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toBe(
      `mdhub: 2026-03 (all licensors) was filed already (filing ${id}); file an amendment to it instead\n`,
    );
  });

  it('mdhub report usage gives the API bytes, and its audit record survives the hub stopping', async () => {
    const cli = await runCli(['report', 'usage', '--month', MONTH, '--format', 'csv', '--detail'], env);
    expect(cli.code, cli.stderr).toBe(0);
    const api = await fetch(`${base}/admin/reports/usage?month=${MONTH}&format=csv&detail=1`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(api.status).toBe(200);
    expect(cli.stdout).toBe(await api.text());
    const done = /done: sha256 ([0-9a-f]{64}), audit record (\d+)/.exec(cli.stderr);
    expect(done?.[1]).toBe(api.headers.get('x-report-sha256'));
    const seq = Number(done?.[2]);

    hub.kill('SIGTERM');
    const [code] = await once(hub, 'exit');
    expect(code, hubStderr).toBe(0);
    await expect(readFile(join(dir, 'hub.lock'))).rejects.toMatchObject({ code: 'ENOENT' });

    // Now the commands open the database themselves: the record the CLI caused is in it.
    const verify = await runCli(['audit', 'verify', '--json'], env, SLOW);
    expect(verify.code).toBe(0);
    const result = JSON.parse(verify.stdout) as { ok: boolean; records: number };
    expect(result.ok).toBe(true);
    expect(result.records).toBeGreaterThanOrEqual(seq);
    const exported = await runCli(['audit', 'export', '--subject', `report:usage:${MONTH}`], env, SLOW);
    const records = exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; details: { sha256: string } });
    expect(records.find((r) => r.seq === seq)?.details.sha256).toBe(done?.[1]);
  });

  it('a lock left by a process that no longer runs is taken over', async () => {
    const stale = { pid: await deadPid(), host: hostname(), startedAt: 0, purpose: 'the hub' };
    await writeFile(join(dir, 'hub.lock'), JSON.stringify(stale));
    const migrate = await runCli(['migrate'], env, SLOW);
    expect(migrate.stderr).toContain('took over a stale data-directory lock');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toBe('database is up to date\n');
    await expect(readFile(join(dir, 'hub.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
