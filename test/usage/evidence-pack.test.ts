import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { list, extract as untar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Db, migrate, openDb } from '../../platform/db/index.js';
import { runCli } from '../../testing/cli.js';
import { type UsageEvent, writeLedger } from '../../usage/index.js';
import { ENGINES, openTestDb, TEST_DATABASE_URL, type TestDb } from '../helpers/db.js';
import { SCRIPT_CATALOG, scriptCatalog, scriptEvents, scriptHistory, t } from './ledger-script.js';

/** The CLI opens PGlite itself: its WebAssembly start is slow on a loaded machine. */
const SLOW = 60_000;

const LATE: UsageEvent = {
  v: 1,
  id: 'ev-late-dave-utp',
  edge: 'e3',
  at: t('2026-03-20T10:00:00Z'),
  day: '2026-03-20',
  user: 'dave',
  device: 'dave-phone',
  kind: 'first_access',
  session: 'd9',
  product: 'UTP',
};

const FOLDER = 'mdhub-evidence-2026-03';

/** `node verify.mjs` in an unpacked folder, as an auditor runs it. */
async function verifyIn(folder: string): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['verify.mjs'], {
      cwd: folder,
      env: { PATH: process.env.PATH ?? '' },
    });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '' };
  }
}

/** Changes the one byte at `index` of `file` (to another printable one). */
async function changeByte(file: string, index: number): Promise<void> {
  const bytes = await readFile(file);
  bytes[index] = bytes[index] === 0x31 ? 0x32 : 0x31;
  await writeFile(file, bytes);
}

/**
 * `mdhub audit pack` run as a compliance officer runs it, the built CLI in its own process, on
 * the scripted March (ledger-script.ts) filed and then amended after a late event; the pack is
 * unpacked with the `tar` package and verified with its own verify.mjs, intact and tampered with.
 */
describe.each(ENGINES)('%s', (engine) => {
  let dir: string;
  let env: Record<string, string>;
  let testDb: TestDb | undefined;
  let unpacked: string;

  async function withDb(fn: (db: Db) => Promise<void>): Promise<void> {
    if (testDb) return fn(testDb.db);
    const db = await openDb({ dataDir: join(dir, 'pglite') });
    try {
      await fn(db);
    } finally {
      await db.close();
    }
  }

  /** A fresh copy of the unpacked pack, to tamper with. */
  async function copy(name: string): Promise<string> {
    const target = join(dir, name);
    await cp(unpacked, target, { recursive: true });
    return target;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-pack-'));
    const catalogFile = join(dir, 'catalog.json');
    await writeFile(catalogFile, JSON.stringify(SCRIPT_CATALOG));
    env = { MDHUB_CATALOG: catalogFile, MDHUB_DATA_DIR: dir };
    if (engine === 'postgres') {
      testDb = await openTestDb('postgres');
      const url = new URL(TEST_DATABASE_URL);
      url.searchParams.set('options', `-c search_path=${testDb.schema}`);
      env.DATABASE_URL = url.toString();
    }
    await withDb(async (db) => {
      if (!testDb) await migrate(db);
      await scriptHistory(db, scriptCatalog());
      await db.transaction((tx) => writeLedger(tx, scriptEvents()));
    });
  }, SLOW);

  afterAll(async () => {
    await testDb?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a month with no filing, and bad arguments, writing nothing', {
    timeout: 3 * SLOW,
  }, async () => {
    const out = join(dir, 'none.tar.gz');
    const none = await runCli(['audit', 'pack', '--month', '2026-03', '--out', out], env, SLOW);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(
      'mdhub: 2026-03 has no filing: an evidence pack is the proof of what was filed, so file the month first (mdhub report file --month 2026-03)\n',
    );
    await expect(stat(out)).rejects.toThrow();

    const noOut = await runCli(['audit', 'pack', '--month', '2026-03'], env, SLOW);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toBe(
      'mdhub: --out FILE.tar.gz is required: where the pack is written (see mdhub audit --help)\n',
    );
    const badMonth = await runCli(['audit', 'pack', '--month', '2026-3', '--out', out], env, SLOW);
    expect(badMonth.code).toBe(2);
    expect(badMonth.stderr).toBe("mdhub: --month must be written YYYY-MM, got '2026-3'\n");
  });

  it('packs a filed and amended month only once a checkpoint signs it, and the pack verifies offline', {
    timeout: 8 * SLOW,
  }, async () => {
    expect((await runCli(['report', 'file', '--month', '2026-03'], env, SLOW)).code).toBe(0);
    await withDb((db) =>
      db.transaction(
        async (tx) => void (await writeLedger(tx, [LATE], { receivedAt: t('2026-04-03T10:00:00Z') })),
      ),
    );
    const amend = ['report', 'amend', '--month', '2026-03', '--reason', 'dave-phone caught up late'];
    expect((await runCli(amend, env, SLOW)).code).toBe(0);

    const out = join(dir, 'march.tar.gz');
    const unsigned = await runCli(['audit', 'pack', '--month', '2026-03', '--out', out], env, SLOW);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toBe(
      'mdhub: the audit log has no checkpoint key yet, so nothing in the pack would be signed; take a checkpoint first (mdhub audit checkpoint)\n',
    );

    expect((await runCli(['audit', 'checkpoint'], env, SLOW)).code).toBe(0);
    const packed = await runCli(['audit', 'pack', '--month', '2026-03', '--out', out], env, SLOW);
    expect(packed.stderr).toBe('');
    expect(packed.code).toBe(0);
    expect(packed.stdout).toMatch(
      new RegExp(
        `^evidence pack of 2026-03 written to ${out.replaceAll('.', '\\.')}\\n` +
          ' {2}sha256 [0-9a-f]{64}, \\d+ bytes, 19 files\\n' +
          ' {2}filings 1, 2; 6 counted users\\n' +
          ' {2}audit records \\d+ to \\d+ \\(the chain head\\), 1 signed checkpoints\\n' +
          ' {2}handed out as audit record \\d+\\n',
      ),
    );

    // Deterministic entries: path order, no owner, one mode and one time (the month's end).
    const entries: Array<{ path: string; mode?: number; mtime?: Date }> = [];
    await list({ file: out, onReadEntry: (e) => entries.push(e) });
    const paths = entries.map((e) => e.path);
    expect(paths).toEqual([...paths].sort());
    expect(paths).toEqual(
      [
        'README.txt',
        'audit/checkpoint-key.pem',
        'audit/checkpoints.jsonl',
        'audit/head.json',
        'audit/segment.jsonl',
        'entitlements/history.jsonl',
        'filings/1/detail.csv',
        'filings/1/detail.json',
        'filings/1/summary.csv',
        'filings/1/summary.json',
        'filings/2/delta.json',
        'filings/2/detail.csv',
        'filings/2/detail.json',
        'filings/2/summary.csv',
        'filings/2/summary.json',
        'filings/index.json',
        'manifest.json',
        'pack.json',
        'verify.mjs',
      ].map((p) => `${FOLDER}/${p}`),
    );
    for (const e of entries) {
      expect(e.mode).toBe(0o644);
      expect(e.mtime?.toISOString()).toBe('2026-04-01T00:00:00.000Z');
    }

    const into = join(dir, 'unpacked');
    await mkdir(into);
    await untar({ file: out, cwd: into });
    unpacked = join(into, FOLDER);
    const filed = await runCli(
      ['report', 'filings', '--id', '2', '--detail', '--out', join(dir, 'f2.csv')],
      env,
    );
    expect(filed.code).toBe(0);
    expect(await readFile(join(unpacked, 'filings/2/detail.csv'))).toEqual(
      await readFile(join(dir, 'f2.csv')),
    );
    const detail = JSON.parse(await readFile(join(unpacked, 'filings/2/detail.json'), 'utf8')) as {
      details: Array<{ user: string }>;
    };
    const history = (await readFile(join(unpacked, 'entitlements/history.jsonl'), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { userId: string; grants: unknown[] });
    expect(history.map((h) => h.userId)).toEqual([...new Set(detail.details.map((d) => d.user))].sort());

    const verified = await verifyIn(unpacked);
    expect(verified.stdout.split('\n')[0]).toBe('ok');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('2026-03: filing 1, amendment 2; every file as filed');
  });

  it('names the first thing wrong when one byte of a filing, an audit record or a signature is changed', {
    timeout: SLOW,
  }, async () => {
    const filing = await copy('tampered-filing');
    const csv = join(filing, 'filings/1/detail.csv');
    await changeByte(csv, (await readFile(csv, 'utf8')).lastIndexOf('.0') + 1);
    const a = await verifyIn(filing);
    expect(a.code).toBe(1);
    expect(a.stdout).toMatch(
      /^filings\/1\/detail\.csv: its SHA-256 is [0-9a-f]{64} \(\d+ bytes\), but audit record \d+ filed [0-9a-f]{64} \(\d+ bytes\): the file is not the one filed\n$/,
    );

    const record = await copy('tampered-record');
    const segment = join(record, 'audit/segment.jsonl');
    const text = await readFile(segment, 'utf8');
    const second = text.indexOf('\n') + 1;
    await changeByte(segment, text.indexOf('"at":', second) + 6);
    const b = await verifyIn(record);
    expect(b.code).toBe(1);
    expect(b.stdout).toMatch(
      /^audit\/segment\.jsonl line 2: record \d+ was altered: its content does not match its hash\n$/,
    );

    const signature = await copy('tampered-signature');
    const checkpoints = join(signature, 'audit/checkpoints.jsonl');
    await changeByte(checkpoints, (await readFile(checkpoints, 'utf8')).indexOf('"signature":"') + 20);
    const c = await verifyIn(signature);
    expect(c.code).toBe(1);
    expect(c.stdout).toMatch(
      /^audit\/checkpoints\.jsonl line 1: the signature of the checkpoint over record \d+ does not verify with audit\/checkpoint-key\.pem: it was forged or altered\n$/,
    );

    const history = await copy('tampered-history');
    await changeByte(join(history, 'entitlements/history.jsonl'), 30);
    const d = await verifyIn(history);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/^entitlements\/history\.jsonl: /);
  });
});
