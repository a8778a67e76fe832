import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../app/cli/main.js';
import { closeBillingMonth } from '../../billing/index.js';
import { type FakeStripe, startFakeStripe } from '../../testing/stripe-server.js';
import { openTestDb, TEST_DATABASE_URL, type TestDb } from '../helpers/db.js';
import { billingConfig, entitledUser, scenario } from './fixtures.js';

const { catalog, prices } = billingConfig();
const s = scenario(7);
let testDb: TestDb;
let stripe: FakeStripe;
let dir: string;
const saved = { ...process.env };

beforeAll(async () => {
  testDb = await openTestDb('postgres');
  stripe = await startFakeStripe();
  for (const pricing of prices.products.values()) stripe.createMeter(pricing.meterEventName);
  dir = await mkdtemp(join(tmpdir(), 'mdhub-reconcile-'));
  await entitledUser(testDb.db, catalog, 'cli-a', ['UTP'], s.grantAt, s.end);
  await closeBillingMonth(testDb.db, { catalog, prices, month: s.month, at: s.closeAt });
});

afterAll(async () => {
  process.env = saved;
  await stripe.close();
  await testDb.cleanup();
  await rm(dir, { recursive: true, force: true });
});

it('mdhub reconcile --month writes the reconciliation, asking Stripe when it is configured', async () => {
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${testDb.schema}`);
  process.env = {
    PATH: saved.PATH,
    DATABASE_URL: url.toString(),
    STRIPE_SECRET_KEY: stripe.secretKey,
    STRIPE_API_URL: stripe.url,
    MDHUB_LOG_LEVEL: 'silent',
  };
  const out = join(dir, 'reconciliation.json');
  expect(await main(['reconcile', '--month', s.month, '--format', 'json', '--out', out])).toBe(0);
  const report = JSON.parse(await readFile(out, 'utf8')) as {
    stripeChecked: boolean;
    rows: Array<{ user: string; mismatches: Array<{ reason: string }> }>;
  };
  expect(report.stripeChecked).toBe(true);
  expect(report.rows).toHaveLength(1);
  expect(report.rows[0]?.mismatches.map((m) => m.reason)).toEqual(['pending', 'no_customer']);
  expect(await main(['reconcile', '--month', '2026-7'])).toBe(2);
});
