import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDb } from '../../platform/db/index.js';
import { runCli } from '../../testing/cli.js';
import { writeLedger } from '../../usage/index.js';
import { ENGINES, openTestDb, TEST_DATABASE_URL, type TestDb } from '../helpers/db.js';
import { SCRIPT_CATALOG, scriptCatalog, scriptEvents, scriptHistory } from './ledger-script.js';

/** `mdhub report usage` run as operators run it: the built CLI in its own process. */
describe.each(ENGINES)('%s', (engine) => {
  let dir: string;
  let env: Record<string, string>;
  let testDb: TestDb | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-report-'));
    const catalogFile = join(dir, 'catalog.json');
    await writeFile(catalogFile, JSON.stringify(SCRIPT_CATALOG));
    env = { MDHUB_CATALOG: catalogFile, MDHUB_DATA_DIR: dir };
    let db: Awaited<ReturnType<typeof openDb>>;
    if (engine === 'postgres') {
      testDb = await openTestDb('postgres');
      db = testDb.db;
      const url = new URL(TEST_DATABASE_URL);
      url.searchParams.set('options', `-c search_path=${testDb.schema}`);
      env.DATABASE_URL = url.toString();
    } else {
      db = await openDb({ dataDir: join(dir, 'pglite') });
      await migrate(db);
    }
    await scriptHistory(db, scriptCatalog());
    await db.transaction((tx) => writeLedger(tx, scriptEvents()));
    if (engine === 'pglite') await db.close();
  });

  afterAll(async () => {
    await testDb?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('prints the CSV summary on stdout and the progress and hash on stderr', async () => {
    const run = await runCli(['report', 'usage', '--month', '2026-03'], env);
    expect(run.stderr).toMatch(/report 2026-03: reading the ledger/);
    expect(run.stderr).toMatch(/done: sha256 [0-9a-f]{64}, audit record \d+/);
    expect(run.code).toBe(0);
    expect(run.stdout.startsWith('section,month,catalog_version,product,category,subscribers,')).toBe(true);
    expect(run.stdout).toMatch(/\nsummary,2026-03,[^,]+,CTA_A,non_professional,1,2,0,5\.250000,/);
    expect(run.stdout).not.toContain('\ndetail,');
  });

  it('writes the JSON detail report to --out, the same bytes each time', async () => {
    const out = join(dir, 'march.json');
    const first = await runCli(
      ['report', 'usage', '--month', '2026-03', '--format', 'json', '--detail', '--out', out],
      env,
    );
    expect(first.code).toBe(0);
    const bytes = await readFile(out, 'utf8');
    const report = JSON.parse(bytes) as { month: string; details: unknown[] };
    expect(report.month).toBe('2026-03');
    expect(report.details).toHaveLength(10);
    const again = await runCli(
      ['report', 'usage', '--month', '2026-03', '--format', 'json', '--detail', '--out', out],
      env,
    );
    expect(again.code).toBe(0);
    expect(await readFile(out, 'utf8')).toBe(bytes);
  });

  it('refuses bad arguments with one line and status 2', async () => {
    for (const args of [
      ['report', 'usage'],
      ['report', 'usage', '--month', '2026-03', '--format', 'xml'],
      ['report', 'sales', '--month', '2026-03'],
    ]) {
      const run = await runCli(args, env);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^mdhub: .+\n$/);
    }
    const bad = await runCli(['report', 'usage', '--month', '2026-3'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("mdhub: --month must be written YYYY-MM, got '2026-3'\n");
    const uncovered = await runCli(['report', 'usage', '--month', '2023-12'], env);
    expect(uncovered.code).toBe(1);
    expect(uncovered.stderr).toMatch(
      /^mdhub: catalog test-2026.1 has no fee schedule for CTA_A in force on 2023-12-01\n$/m,
    );
  });
});
