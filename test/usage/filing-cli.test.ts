import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/**
 * `mdhub report file|filings|diff|amend` run as a compliance officer runs them, the built CLI in
 * its own process, on the scripted March (ledger-script.ts), with a late event in between.
 */
describe.each(ENGINES)('%s', (engine) => {
  let dir: string;
  let env: Record<string, string>;
  let testDb: TestDb | undefined;

  /** The database as the CLI sees it, for what a meter would do between two commands. */
  async function withDb(fn: (db: Db) => Promise<void>): Promise<void> {
    if (testDb) return fn(testDb.db);
    const db = await openDb({ dataDir: join(dir, 'pglite') });
    try {
      await fn(db);
    } finally {
      await db.close();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-filing-'));
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

  it('files March, prints its four hashes, and writes the filed bytes back exactly', {
    timeout: 2 * SLOW,
  }, async () => {
    const filed = await runCli(['report', 'file', '--month', '2026-03'], env, SLOW);
    expect(filed.stderr).toBe('');
    expect(filed.code).toBe(0);
    const lines = filed.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^filing 1: 2026-03, all licensors, catalog test-2026\.1, filed \S+Z by system cli, audit record \d+$/,
    );
    expect(
      lines.slice(1, 5).map((line) => line.replace(/[0-9a-f]{64}/, 'H').replace(/\d+ bytes/, 'N bytes')),
    ).toEqual([
      '  json summary  sha256 H  N bytes',
      '  json detail   sha256 H  N bytes',
      '  csv summary   sha256 H  N bytes',
      '  csv detail    sha256 H  N bytes',
    ]);
    const csvHash = /csv detail {4}sha256 ([0-9a-f]{64})/.exec(filed.stdout)?.[1];

    const out = join(dir, 'filed.csv');
    const bytes = await runCli(['report', 'filings', '--id', '1', '--detail', '--out', out], env, SLOW);
    expect(bytes.stderr).toBe(`filing 1: sha256 ${csvHash}, written to ${out}\n`);
    const usage = await runCli(['report', 'usage', '--month', '2026-03', '--detail'], env, SLOW);
    expect(await readFile(out, 'utf8')).toBe(usage.stdout);

    const again = await runCli(['report', 'file', '--month', '2026-03'], env, SLOW);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      'mdhub: 2026-03 (all licensors) was filed already (filing 1); file an amendment to it instead\n',
    );
    const open = await runCli(['report', 'file', '--month', '2099-01'], env, SLOW);
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/^mdhub: 2099-01 is not over: it ends at 2099-02-01T00:00:00\.000Z; /);
  });

  it('after a late event, lists the month as drifted, names the subscriber and the event, and amends it', {
    timeout: 4 * SLOW,
  }, async () => {
    await withDb((db) =>
      db.transaction(
        async (tx) => void (await writeLedger(tx, [LATE], { receivedAt: t('2026-04-03T10:00:00Z') })),
      ),
    );

    const list = await runCli(['report', 'filings'], env, SLOW);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      /^2026-03, all licensors: filing 1\n {2}filing 1 {2}\S+Z {2}system cli {2}catalog test-2026\.1 {2}latest, differs from the live report\n$/,
    );

    const diff = await runCli(['report', 'diff', '--month', '2026-03'], env, SLOW);
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain('2026-03 (all licensors): the live report differs from filing 1, filed ');
    expect(diff.stdout).toContain(
      'rows:\n  ~ UTP non_professional: subscribers 1 → 2, devices 1 → 2, fee 1.000000 → 2.000000\n',
    );
    expect(diff.stdout).toContain(
      'subscribers:\n  + UTP non_professional dave (device dave-phone): fee 1.000000\n' +
        '      late event ev-late-dave-utp (first_access on 2026-03-20, received 2026-04-03T10:00:00.000Z)\n',
    );
    const json = await runCli(['report', 'diff', '--month', '2026-03', '--json'], env, SLOW);
    expect(JSON.parse(json.stdout)).toMatchObject({
      matches: false,
      subscribers: [{ user: 'dave', change: 'added' }],
    });

    const amended = await runCli(
      ['report', 'amend', '--month', '2026-03', '--reason', 'dave-phone caught up late'],
      env,
      SLOW,
    );
    expect(amended.stderr).toBe('');
    expect(amended.stdout).toMatch(/^amendment 2 of filing 1: 2026-03, all licensors, /);
    expect(amended.stdout).toContain('  reason: dave-phone caught up late\n');
    expect(amended.stdout).toContain('  delta: 1 row(s) and 1 subscriber(s) changed\n');

    const chain = await runCli(['report', 'filings', '--month', '2026-03'], env, SLOW);
    expect(chain.stdout.split('\n')[0]).toBe('2026-03, all licensors: filing 1 → amendment 2');
    expect(chain.stdout).toMatch(/filing 1 .* replaced by 2, differs from the live report\n/);
    expect(chain.stdout).toMatch(
      /amendment 2 .* latest, matches the live report\n {2} {11} {2}reason: dave-phone caught up late\n/,
    );

    const nothing = await runCli(['report', 'amend', '--month', '2026-03', '--reason', 'again'], env, SLOW);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toBe(
      'mdhub: the live report of 2026-03 (all licensors) is still byte for byte filing 2: there is nothing to amend\n',
    );
  });
});
