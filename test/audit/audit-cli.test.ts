import { createHash } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditRecord, canonicalJson, GENESIS_HASH } from '../../audit/index.js';
import { type Db, migrate, openDb } from '../../platform/db/index.js';
import { runCli } from '../../testing/cli.js';
import { openTestDb, TEST_DATABASE_URL, type TestDb } from '../helpers/db.js';
import { appendRange, T0, tamper, tempDir } from './chain-fixtures.js';

/** The embedded database under a data dir; closed again before the CLI (another process) opens it. */
async function withDataDir<T>(dataDir: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDb({ dataDir: join(dataDir, 'pglite') });
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe('mdhub audit', () => {
  it('explains itself with --help and refuses a missing subcommand or a stray flag with status 2', async () => {
    const help = await runCli(['audit', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: mdhub audit verify/);
    expect(help.stdout).toMatch(/mdhub audit export \[--from TIME\]/);
    expect((await runCli(['--help'])).stdout).toMatch(/audit +verify, export or checkpoint/);
    for (const args of [
      ['audit'],
      ['audit', 'verify', '--out', 'x'],
      ['audit', 'export', '--from', 'last week'],
    ]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect((await runCli(['audit', 'export', '--from', 'last week'])).stderr).toMatch(
      /^mdhub: --from must be epoch milliseconds/,
    );
  });

  it('exits 1 with one line on a tampered embedded log (PGlite under MDHUB_DATA_DIR)', async () => {
    const temp = await tempDir();
    try {
      await withDataDir(temp.dir, async (db) => {
        await appendRange(db, 1, 6);
        await tamper(db, "update audit_log set actor_id = 'op-bob' where seq = 4");
      });
      const result = await runCli(['audit', 'verify'], { MDHUB_DATA_DIR: temp.dir });
      expect(result).toEqual({
        code: 1,
        stdout: '',
        stderr:
          'mdhub: audit log is not intact: record 4 was altered: its content does not match its hash (altered)\n',
      });
    } finally {
      await temp.remove();
    }
  });
});

describe('mdhub audit on PostgreSQL at DATABASE_URL', () => {
  let testDb: TestDb;
  let temp: Awaited<ReturnType<typeof tempDir>>;
  let env: Record<string, string>;
  const envFor = (schema: string | undefined) => {
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return { DATABASE_URL: url.toString(), MDHUB_DATA_DIR: temp.dir };
  };
  beforeAll(async () => {
    testDb = await openTestDb('postgres');
    temp = await tempDir();
    env = envFor(testDb.schema);
    await appendRange(testDb.db, 1, 12);
  });
  afterAll(async () => {
    await testDb.cleanup();
    await temp.remove();
  });

  it('checkpoints, verifies and exports an intact log', async () => {
    const checkpoint = await runCli(['audit', 'checkpoint'], env);
    expect(checkpoint.stderr).toBe('');
    expect(checkpoint.stdout).toMatch(
      /^checkpoint signed at record 12 \([0-9a-f]{64}\) in .*checkpoints\.jsonl\n$/,
    );
    expect(checkpoint.code).toBe(0);
    const verify = await runCli(['audit', 'verify'], env);
    expect(verify).toMatchObject({
      code: 0,
      // The 13th record is the chain's own record of that checkpoint.
      stdout: 'audit log intact: 13 records, agreeing with 1 signed checkpoints\n',
    });

    const out = join(temp.dir, 'export.jsonl');
    const exported = await runCli(['audit', 'export', '--from', '2026-01-01', '--out', out], env);
    expect(exported).toMatchObject({ code: 0, stderr: `exported 13 audit records to ${out}\n` });
    const lines = (await readFile(out, 'utf8')).trimEnd().split('\n');
    let previous = GENESIS_HASH;
    for (const line of lines) {
      const { hash, ...rest } = JSON.parse(line) as AuditRecord;
      expect(rest.prevHash).toBe(previous);
      expect(createHash('sha256').update(canonicalJson(rest)).digest('hex')).toBe(hash);
      previous = hash;
    }

    const toStdout = await runCli(
      ['audit', 'export', '--subject', 'user:u3', '--to', String(T0 + 10_000)],
      env,
    );
    expect(
      toStdout.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line).seq),
    ).toEqual([3, 8]);
  });

  it('exits 1 naming the missing checkpoints when the checkpoint file was moved aside', async () => {
    const file = join(temp.dir, 'audit', 'checkpoints.jsonl');
    await rename(file, `${file}.aside`);
    try {
      const result = await runCli(['audit', 'verify'], env);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^mdhub: audit log is not intact: record 13 says a checkpoint over record 12 was signed at .* no checkpoint file or witness holds it .* \(checkpoints_missing\)\n$/,
      );
    } finally {
      await rename(`${file}.aside`, file);
    }
  });

  it('exits 1 with one line when a record was deleted, and with --json prints the finding', async () => {
    await tamper(testDb.db, 'delete from audit_log where seq = 2');
    const result = await runCli(['audit', 'verify'], env);
    expect(result).toMatchObject({
      code: 1,
      stderr: 'mdhub: audit log is not intact: record 2 is missing from the log (missing)\n',
    });
    const json = await runCli(['audit', 'verify', '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, firstBad: 2, reason: 'missing' });
  });

  it('says so when the database has no audit log yet', async () => {
    const bare = await openTestDb('postgres', { migrated: false });
    try {
      const result = await runCli(['audit', 'verify'], envFor(bare.schema));
      expect(result).toMatchObject({
        code: 1,
        stderr: "mdhub: the database has no audit log yet; run 'mdhub migrate' first\n",
      });
    } finally {
      await bare.cleanup();
    }
  });
});
