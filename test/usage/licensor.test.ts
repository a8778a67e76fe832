import { beforeAll, expect, it } from 'vitest';
import { parseCatalog } from '../../config/index.js';
import { updateContact } from '../../entitlements/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import {
  buildLicensorFiles,
  buildUsageReport,
  generateLicensorFile,
  generateUsageReport,
  LicensorFileError,
  parseUsageMonth,
  readMonthlyUsage,
  reportRoutes,
  validateLicensorFiles,
  writeLedger,
} from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { ADMIN } from './ledger-script.js';
import { LICENSOR_CATALOG, licensorCatalog, licensorEvents, licensorHistory } from './licensor-script.js';

const catalog = licensorCatalog();
const AUDITOR: Actor = { type: 'operator', id: 'cathy', role: 'compliance' };

/** May 2026 of licensor-script.ts, worked out by hand. */
const CTA_SUMMARY = `licensor,CTA
file,summary
month,2026-05
catalog_version,test-lic-1

product_code,category,subscribers,queries,fee
NETWORK_A,non_display,2,1,120.000000
NETWORK_A,non_professional,1,0,5.250000
NETWORK_A,professional,2,0,90.000000
`;

const CTA_DETAIL = `licensor,CTA
file,detail
month,2026-05
catalog_version,test-lic-1

product_code,user,device,name,address,category,ability_first,ability_last,accessed,devices,queries,fee
NETWORK_A,algo,,Algo Desk LLC,"5 Wall St, New York",non_display,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,yes,1,1,60.000000
NETWORK_A,cara,,Cara Diaz,7 Pine Rd,non_display,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,no,0,0,60.000000
NETWORK_A,ann,,Ann Lee,"1 Main St, Springfield",non_professional,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,yes,1,0,5.250000
NETWORK_A,bob,,Bob Ray,"12 ""Oak"", Apt 3",professional,2026-05-05T00:00:00.000Z,2026-05-19T23:59:59.999Z,no,0,0,45.000000
NETWORK_A,cara,,Cara Diaz,7 Pine Rd,professional,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,yes,1,0,45.000000
`;

const UTP_SUMMARY = `licensor,UTP
file,summary
month,2026-05
catalog_version,test-lic-1

product_code,category,subscribers,queries,fee
UTP_L1,non_professional,1,0,1.000000
UTP_L1,professional,0,0,0.000000
`;

const UTP_DETAIL_JSON = {
  licensor: 'UTP',
  file: 'detail',
  month: '2026-05',
  catalogVersion: 'test-lic-1',
  details: [
    {
      productCode: 'UTP_L1',
      user: 'ann',
      device: 'ann-phone',
      name: 'Ann Lee',
      address: '1 Main St, Springfield',
      category: 'non_professional',
      abilityFirst: '2026-05-10T00:00:00.000Z',
      abilityLast: '2026-05-31T23:59:59.999Z',
      accessed: true,
      devices: 1,
      queries: 0,
      fee: '1.000000',
    },
  ],
};

function adminApp(db: Db): App {
  const app = createApp({
    logger: silentLogger,
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    health: new HealthChecks(),
  });
  app.route('/admin', reportRoutes({ db, catalog }));
  return app;
}

async function reportAudits(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "select count(*)::int as n from audit_log where action = 'report.generate'",
  );
  return rows[0]!.n;
}

async function setAddress(db: Db, userId: string, address: string | null): Promise<void> {
  await db.transaction((tx) =>
    updateContact({ ctx: { actor: ADMIN, tx, at: Date.now() }, input: { userId, address } }),
  );
}

forEachDb((_engine, getDb) => {
  beforeAll(async () => {
    const db = getDb();
    await licensorHistory(db, catalog);
    await db.transaction((tx) => writeLedger(tx, licensorEvents()));
  });

  it("counts an application's real-time use under non_display, at its own fee, never as a display subscriber", async () => {
    const { report } = await generateUsageReport(getDb(), catalog, '2026-05', { detail: true });
    expect(report.rows).toEqual([
      {
        product: 'CTA_A',
        category: 'non_display',
        subscribers: 2,
        devices: 1,
        queries: 1,
        fee: '120.000000',
      },
      {
        product: 'CTA_A',
        category: 'non_professional',
        subscribers: 1,
        devices: 1,
        queries: 0,
        fee: '5.250000',
      },
      {
        product: 'CTA_A',
        category: 'professional',
        subscribers: 2,
        devices: 1,
        queries: 0,
        fee: '90.000000',
      },
      {
        product: 'UTP',
        category: 'non_professional',
        subscribers: 1,
        devices: 1,
        queries: 0,
        fee: '1.000000',
      },
      { product: 'UTP', category: 'professional', subscribers: 0, devices: 0, queries: 0, fee: '0.000000' },
    ]);
    // algo holds only an application's token: whatever its grant, it is no display subscriber.
    expect(report.details?.filter((d) => d.user === 'algo').map((d) => d.category)).toEqual(['non_display']);
    expect(report.feeSchedules.map((s) => s.fees.non_display)).toEqual([
      { type: 'monthly', amount: '60.000000' },
      undefined,
    ]);
    const { rows } = await getDb().query(
      "select product, user_id, category from usage_monthly where month = '2026-05' and category = 'non_display' order by user_id",
    );
    expect(rows).toEqual([
      { product: 'CTA_A', user_id: 'algo', category: 'non_display' },
      { product: 'CTA_A', user_id: 'cara', category: 'non_display' },
    ]);
  });

  it('writes the CTA summary and detail files byte for byte, and records each with its SHA-256', async () => {
    const db = getDb();
    const summary = await generateLicensorFile(db, catalog, '2026-05', 'CTA', {
      format: 'csv',
      actor: AUDITOR,
    });
    expect(summary.body).toBe(CTA_SUMMARY);
    const detail = await generateLicensorFile(db, catalog, '2026-05', 'CTA', { format: 'csv', detail: true });
    expect(detail.body).toBe(CTA_DETAIL);
    const { rows } = await db.query<{ seq: number; actor_id: string; details_json: string }>(
      'select seq, actor_id, details_json from audit_log where seq = $1',
      [summary.auditSeq],
    );
    expect(rows[0]!.actor_id).toBe('cathy');
    expect(JSON.parse(rows[0]!.details_json)).toEqual({
      report: 'licensor',
      licensor: 'CTA',
      file: 'summary',
      month: '2026-05',
      format: 'csv',
      catalogVersion: 'test-lic-1',
      sha256: summary.sha256,
      bytes: Buffer.byteLength(CTA_SUMMARY),
    });
  });

  it('writes the UTP summary in CSV and its detail in JSON, one line per counted device', async () => {
    const db = getDb();
    expect((await generateLicensorFile(db, catalog, '2026-05', 'UTP', { format: 'csv' })).body).toBe(
      UTP_SUMMARY,
    );
    const detail = await generateLicensorFile(db, catalog, '2026-05', 'UTP', { detail: true });
    expect(detail.body).toBe(`${JSON.stringify(UTP_DETAIL_JSON, null, 2)}\n`);
  });

  it('refuses a detail file with a subscriber the licensor requires an address of, naming them, and records nothing', async () => {
    const db = getDb();
    await setAddress(db, 'ann', null);
    await setAddress(db, 'bob', '  ');
    try {
      const before = await reportAudits(db);
      const refusal = generateLicensorFile(db, catalog, '2026-05', 'CTA', { detail: true });
      await expect(refusal).rejects.toBeInstanceOf(LicensorFileError);
      await expect(refusal).rejects.toThrow(
        'CTA would reject this detail file: 2 user(s) without an address, required by the licensor: "ann", "bob" (set it with PATCH /admin/users/:id)',
      );
      await expect(refusal).rejects.toMatchObject({
        kind: 'unprocessable',
        code: 'licensor_file_rejected',
        details: [{ problem: 'missing_field', field: 'address', users: ['ann', 'bob'] }],
      });
      expect(await reportAudits(db)).toBe(before);
      // The summary names nobody: it is not refused for an address.
      expect((await generateLicensorFile(db, catalog, '2026-05', 'CTA', { format: 'csv' })).body).toBe(
        CTA_SUMMARY,
      );
    } finally {
      await setAddress(db, 'ann', '1 Main St, Springfield');
      await setAddress(db, 'bob', '12 "Oak", Apt 3');
    }
  });

  it('refuses a file naming a product the catalog maps to no licensor code', async () => {
    const raw = structuredClone(LICENSOR_CATALOG);
    delete (raw.products[0] as { licensorCode?: string }).licensorCode;
    const uncoded = parseCatalog(raw);
    await expect(generateLicensorFile(getDb(), uncoded, '2026-05', 'CTA')).rejects.toThrow(
      'CTA would reject this summary file: product code "CTA_A" is not one the catalog maps to this licensor (set the product\'s licensorCode)',
    );
  });

  it('refuses files whose summary does not add up to the detail, naming the users of the row', async () => {
    const db = getDb();
    const month = parseUsageMonth('2026-05')!;
    const usage = await readMonthlyUsage(db, catalog, month);
    const report = buildUsageReport(catalog, month, usage, { detail: true });
    const contacts = new Map([
      ['ann', { name: 'Ann Lee', address: 'x' }],
      ['bob', { name: 'Bob Ray', address: 'y' }],
      ['cara', { name: 'C', address: 'z' }],
      ['algo', { name: 'A', address: 'w' }],
    ]);
    const files = buildLicensorFiles(catalog, 'CTA', report, usage, contacts);
    expect(() => validateLicensorFiles(catalog, files, 'detail')).not.toThrow();
    const professional = files.rows.find((r) => r.category === 'professional')!;
    professional.subscribers = 3;
    professional.fee = '135.000000';
    let error: unknown;
    try {
      validateLicensorFiles(catalog, files, 'summary');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(LicensorFileError);
    expect((error as Error).message).toBe(
      'CTA would reject this summary file: the summary of NETWORK_A professional (3 subscribers, 0 queries, fee 135.000000) does not match its detail (2, 0, 90.000000; users "bob", "cara")',
    );
    files.details.pop();
    expect(() => validateLicensorFiles(catalog, files, 'summary')).toThrow(
      /detail \(1, 0, 45\.000000; users "bob"\)/,
    );
  });

  it('serves licensor files over GET /admin/reports/usage?licensor=, and refuses an unknown licensor or a rejected file', async () => {
    const db = getDb();
    const app = adminApp(db);
    const res = await app.request('/admin/reports/usage?month=2026-05&licensor=CTA&detail=1&format=csv');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(CTA_DETAIL);
    expect(res.headers.get('x-report-sha256')).toMatch(/^[0-9a-f]{64}$/);
    const unknown = await app.request('/admin/reports/usage?month=2026-05&licensor=OPRA');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      error: { code: 'invalid_query', message: 'licensor must be one of CTA, UTP' },
    });
    await setAddress(db, 'cara', null);
    try {
      const refused = await app.request('/admin/reports/usage?month=2026-05&licensor=CTA&detail=1');
      expect(refused.status).toBe(422);
      const body = (await refused.json()) as { error: { code: string; message: string; details: unknown } };
      expect(body.error.code).toBe('licensor_file_rejected');
      expect(body.error.message).toContain('"cara"');
      expect(body.error.details).toEqual([{ problem: 'missing_field', field: 'address', users: ['cara'] }]);
    } finally {
      await setAddress(db, 'cara', '7 Pine Rd');
    }
    // Without a licensor the usage report is the one it always was.
    const usage = await app.request('/admin/reports/usage?month=2026-05&format=csv');
    const text = await usage.text();
    expect(text.startsWith('section,month,catalog_version,')).toBe(true);
    expect(text).toContain('\nsummary,2026-05,test-lic-1,');
  });
});
