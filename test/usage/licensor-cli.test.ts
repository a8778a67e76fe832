import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDb } from '../../platform/db/index.js';
import { freePort, runCli, spawnCli, waitForOk } from '../../testing/cli.js';
import { writeLedger } from '../../usage/index.js';
import { ENGINES, openTestDb, TEST_DATABASE_URL, type TestDb } from '../helpers/db.js';
import { LICENSOR_CATALOG, licensorCatalog, licensorEvents, licensorHistory } from './licensor-script.js';

const TOKEN = 'licensor-cli-admin-token-0123456789';
/** Opening PGlite compiles its WebAssembly: slow on a busy machine. */
const SLOW = 150_000;

const CTA_ALGO_LINE =
  'NETWORK_A,algo,,Algo Desk LLC,"5 Wall St, New York",non_display,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,yes,1,1,60.000000\n';
const UNUSED_TABLE =
  'product,category,user,basis,entitled_first,entitled_last,fee\n' +
  'CTA_A,non_display,cara,entitled,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,60.000000\n' +
  'CTA_A,professional,bob,entitled,2026-05-05T00:00:00.000Z,2026-05-19T23:59:59.999Z,45.000000\n' +
  'UTP,professional,dan,accessed,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,0.000000\n\ntotal,105.000000\n';

/** The May script (licensor-script.ts) in a data directory or a schema, and the catalog file. */
async function seeded(engine: (typeof ENGINES)[number], dir: string) {
  const catalogFile = join(dir, 'catalog.json');
  await writeFile(catalogFile, JSON.stringify(LICENSOR_CATALOG));
  const env: Record<string, string> = { MDHUB_CATALOG: catalogFile, MDHUB_DATA_DIR: dir };
  let testDb: TestDb | undefined;
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
  await licensorHistory(db, licensorCatalog());
  await db.transaction((tx) => writeLedger(tx, licensorEvents()));
  return { env, testDb, db };
}

/** Until the hub has written its admin API address into the data-directory lock. */
async function waitForAdvertised(dir: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if ((await readFile(join(dir, 'hub.lock'), 'utf8').catch(() => '')).includes('adminUrl')) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the hub never advertised its admin API in hub.lock');
}

/** `mdhub report usage --licensor` and `mdhub report unused`, run as operators run them. */
describe.each(ENGINES)('%s', { timeout: SLOW }, (engine) => {
  let dir: string;
  let env: Record<string, string>;
  let testDb: TestDb | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-licensor-'));
    const made = await seeded(engine, dir);
    ({ env, testDb } = made);
    if (engine === 'pglite') await made.db.close();
  });

  afterAll(async () => {
    await testDb?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("writes a licensor's detail file to --out, with the hash on stderr", async () => {
    const out = join(dir, 'cta-detail.csv');
    const run = await runCli(
      ['report', 'usage', '--month', '2026-05', '--licensor', 'CTA', '--detail', '--out', out],
      env,
      SLOW,
    );
    expect(run.stderr).toMatch(/checking the CTA detail as the licensor would/);
    expect(run.stderr).toMatch(/done: sha256 [0-9a-f]{64}, audit record \d+, written to /);
    expect(run.code).toBe(0);
    const body = await readFile(out, 'utf8');
    expect(body.startsWith('licensor,CTA\nfile,detail\nmonth,2026-05\ncatalog_version,test-lic-1\n')).toBe(
      true,
    );
    expect(body).toContain(CTA_ALGO_LINE);
    const summary = await runCli(['report', 'usage', '--month', '2026-05', '--licensor', 'UTP'], env, SLOW);
    expect(summary.code).toBe(0);
    expect(summary.stdout).toContain(
      '\nUTP_L1,non_professional,1,0,1.000000\nUTP_L1,professional,0,0,0.000000\n',
    );
  });

  it('lists the unused entitlements of a month with their total', async () => {
    const run = await runCli(['report', 'unused', '--month', '2026-05'], env, SLOW);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`month,2026-05\ncatalog_version,test-lic-1\n\n${UNUSED_TABLE}`);
    expect(run.stderr).toBe('unused 2026-05: 3 entitlement(s) never used, costing 105.000000\n');
  });

  it('refuses bad arguments with status 2 and a file the licensor would reject with status 1', async () => {
    for (const args of [
      ['report', 'usage', '--month', '2026-05', '--licensor', 'OPRA'],
      ['report', 'unused', '--month', '2026-05', '--detail'],
      ['report', 'unused', '--month', '2026-05', '--licensor', 'CTA'],
      ['report', 'unused', '--month', '2026-5'],
    ]) {
      const run = await runCli(args, env, SLOW);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^mdhub: .+\n$/);
    }
    const uncoded = structuredClone(LICENSOR_CATALOG);
    delete (uncoded.products[1] as { licensorCode?: string }).licensorCode;
    const file = join(dir, 'uncoded.json');
    await writeFile(file, JSON.stringify(uncoded));
    const refused = await runCli(
      ['report', 'usage', '--month', '2026-05', '--licensor', 'UTP'],
      {
        ...env,
        MDHUB_CATALOG: file,
      },
      SLOW,
    );
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(
      /^mdhub: UTP would reject this summary file: product code "UTP" is not one the catalog maps to this licensor/m,
    );
  });
});

/** Beside a running embedded hub the commands go through its admin API, with the same bytes. */
describe('beside a running embedded hub', { timeout: 2 * SLOW }, () => {
  let dir: string;
  let env: Record<string, string>;
  let hub: ChildProcess;
  let direct: { detail: string; unused: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-licensor-hub-'));
    const made = await seeded('pglite', dir);
    await made.db.close();
    // The hub's billing needs prices for exactly the catalog's products.
    const prices = join(dir, 'prices.json');
    const price = (id: string) => ({
      id,
      meterEventName: `mdhub_${id.toLowerCase()}`,
      prices: [
        { effectiveFrom: '2018-01-01', professional: { type: 'free' }, non_professional: { type: 'free' } },
      ],
    });
    await writeFile(prices, JSON.stringify({ version: 'test', products: [price('CTA_A'), price('UTP')] }));
    env = { ...made.env, MDHUB_PRICES: prices, MDHUB_ADMIN_TOKEN: TOKEN, MDHUB_SYNTHETIC_RATE: '50' };
    direct = {
      detail: (
        await runCli(['report', 'usage', '--month', '2026-05', '--licensor', 'CTA', '--detail'], env, SLOW)
      ).stdout,
      unused: (await runCli(['report', 'unused', '--month', '2026-05', '--format', 'json'], env, SLOW))
        .stdout,
    };
    const port = await freePort();
    hub = spawnCli(['start'], { ...env, PORT: String(port), HOST: '127.0.0.1' });
    await waitForOk(`http://127.0.0.1:${port}/healthz`, SLOW);
    await waitForAdvertised(dir);
  }, 3 * SLOW);

  afterAll(async () => {
    hub?.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes the licensor file and the unused list through the admin API, byte for byte', async () => {
    const detail = await runCli(
      ['report', 'usage', '--month', '2026-05', '--licensor', 'CTA', '--detail'],
      env,
      SLOW,
    );
    expect(detail.stderr).toMatch(/through the admin API of the hub/);
    expect(detail.code).toBe(0);
    expect(detail.stdout).toBe(direct.detail);
    const unused = await runCli(['report', 'unused', '--month', '2026-05', '--format', 'json'], env, SLOW);
    expect(unused.stderr).toMatch(/^unused 2026-05: through the admin API of the hub/);
    expect(unused.code).toBe(0);
    expect(unused.stdout).toBe(direct.unused);
    const refused = await runCli(['report', 'usage', '--month', '2026-05', '--licensor', 'OPRA'], env, SLOW);
    expect(refused.code).toBe(2);
  });
});
