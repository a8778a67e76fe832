import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Actor } from '../../platform/actor.js';
import { type Bus, openBus } from '../../platform/bus/index.js';
import type { Db } from '../../platform/db/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import {
  generateUsageReport,
  METER_GROUP,
  type Meter,
  reportCsv,
  reportRoutes,
  runMeter,
  VERIFY_SCRIPT,
} from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { cleanupRedisPrefix, REDIS_URL, uniqueName } from '../helpers/services.js';
import { scriptCatalog, scriptEvents, scriptHistory } from './ledger-script.js';

const catalog = scriptCatalog();
const AUDITOR: Actor = { type: 'operator', id: 'cathy', role: 'compliance' };

/** March 2026 of the script (ledger-script.ts), worked out by hand. */
const MARCH_CSV = `section,month,catalog_version,product,category,subscribers,devices,queries,fee,user,device,basis,entitled,accessed,first_access,last_access,unit,effective_from,fee_type,amount,per_query,cap,source
fee_schedule,2026-03,test-2026.1,CTA_A,non_professional,,,,,,,entitled,,,,,user,2024-01-01,monthly,5.250000,,,"test, 2024"
fee_schedule,2026-03,test-2026.1,CTA_A,professional,,,,,,,entitled,,,,,user,2024-01-01,monthly,45.000000,,,"test, 2024"
fee_schedule,2026-03,test-2026.1,CTA_B,non_professional,,,,,,,entitled,,,,,user,2024-01-01,per_query,,0.007500,1.000000,"per packet, ""capped"""
fee_schedule,2026-03,test-2026.1,CTA_B,professional,,,,,,,entitled,,,,,user,2024-01-01,monthly,13.650000,,,"per packet, ""capped"""
fee_schedule,2026-03,test-2026.1,UTP,non_professional,,,,,,,accessed,,,,,device,2018-04-01,monthly,1.000000,,,test
fee_schedule,2026-03,test-2026.1,UTP,professional,,,,,,,accessed,,,,,device,2018-04-01,monthly,24.000000,,,test
summary,2026-03,test-2026.1,CTA_A,non_professional,1,2,0,5.250000,,,,,,,,,,,,,,
summary,2026-03,test-2026.1,CTA_A,professional,2,2,0,90.000000,,,,,,,,,,,,,,
summary,2026-03,test-2026.1,CTA_B,non_professional,2,2,240,1.300000,,,,,,,,,,,,,,
summary,2026-03,test-2026.1,CTA_B,professional,2,1,10,27.300000,,,,,,,,,,,,,,
summary,2026-03,test-2026.1,UTP,non_professional,1,1,0,1.000000,,,,,,,,,,,,,,
summary,2026-03,test-2026.1,UTP,professional,2,2,0,48.000000,,,,,,,,,,,,,,
detail,2026-03,test-2026.1,CTA_A,non_professional,,2,0,5.250000,alice,,entitled,true,true,2026-03-02T09:30:00.000Z,2026-03-31T23:59:59.000Z,,,,,,,
detail,2026-03,test-2026.1,CTA_A,professional,,1,0,45.000000,bob,,entitled,true,true,2026-03-03T09:00:00.000Z,2026-03-03T09:09:59.000Z,,,,,,,
detail,2026-03,test-2026.1,CTA_A,professional,,1,0,45.000000,hank,,entitled,false,true,2026-03-09T11:00:00.000Z,2026-03-09T11:00:30.000Z,,,,,,,
detail,2026-03,test-2026.1,CTA_B,non_professional,,1,200,1.000000,dave,,entitled,true,true,2026-03-10T12:00:00.000Z,2026-03-10T12:03:19.000Z,,,,,,,
detail,2026-03,test-2026.1,CTA_B,non_professional,,1,40,0.300000,erin,,entitled,true,true,2026-03-01T00:00:10.000Z,2026-03-11T16:19:30.000Z,,,,,,,
detail,2026-03,test-2026.1,CTA_B,professional,,0,0,13.650000,bob,,entitled,true,false,,,,,,,,,
detail,2026-03,test-2026.1,CTA_B,professional,,1,10,13.650000,carol,,entitled,true,true,2026-03-04T10:00:00.000Z,2026-03-04T10:09:00.000Z,,,,,,,
detail,2026-03,test-2026.1,UTP,non_professional,,1,0,1.000000,alice,alice-phone,accessed,true,true,2026-03-05T08:00:05.000Z,2026-03-05T08:09:00.000Z,,,,,,,
detail,2026-03,test-2026.1,UTP,professional,,1,0,24.000000,carol,carol-phone,accessed,true,true,2026-03-20T18:00:02.000Z,2026-03-20T18:04:00.000Z,,,,,,,
detail,2026-03,test-2026.1,UTP,professional,,1,0,24.000000,carol,carol-tab,accessed,true,true,2026-03-14T09:00:01.000Z,2026-03-14T09:20:00.000Z,,,,,,,
`;

/** March in the CSV layout filed before the one table (sections apart by an empty line). */
const MARCH_SECTIONED_CSV = `month,2026-03
catalog_version,test-2026.1

product,unit,basis,effective_from,category,fee_type,amount,per_query,cap,source
CTA_A,user,entitled,2024-01-01,non_professional,monthly,5.250000,,,"test, 2024"
CTA_A,user,entitled,2024-01-01,professional,monthly,45.000000,,,"test, 2024"
CTA_B,user,entitled,2024-01-01,non_professional,per_query,,0.007500,1.000000,"per packet, ""capped"""
CTA_B,user,entitled,2024-01-01,professional,monthly,13.650000,,,"per packet, ""capped"""
UTP,device,accessed,2018-04-01,non_professional,monthly,1.000000,,,test
UTP,device,accessed,2018-04-01,professional,monthly,24.000000,,,test

product,category,subscribers,devices,queries,fee
CTA_A,non_professional,1,2,0,5.250000
CTA_A,professional,2,2,0,90.000000
CTA_B,non_professional,2,2,240,1.300000
CTA_B,professional,2,1,10,27.300000
UTP,non_professional,1,1,0,1.000000
UTP,professional,2,2,0,48.000000

product,category,user,device,basis,entitled,accessed,first_access,last_access,devices,queries,fee
CTA_A,non_professional,alice,,entitled,true,true,2026-03-02T09:30:00.000Z,2026-03-31T23:59:59.000Z,2,0,5.250000
CTA_A,professional,bob,,entitled,true,true,2026-03-03T09:00:00.000Z,2026-03-03T09:09:59.000Z,1,0,45.000000
CTA_A,professional,hank,,entitled,false,true,2026-03-09T11:00:00.000Z,2026-03-09T11:00:30.000Z,1,0,45.000000
CTA_B,non_professional,dave,,entitled,true,true,2026-03-10T12:00:00.000Z,2026-03-10T12:03:19.000Z,1,200,1.000000
CTA_B,non_professional,erin,,entitled,true,true,2026-03-01T00:00:10.000Z,2026-03-11T16:19:30.000Z,1,40,0.300000
CTA_B,professional,bob,,entitled,true,false,,,0,0,13.650000
CTA_B,professional,carol,,entitled,true,true,2026-03-04T10:00:00.000Z,2026-03-04T10:09:00.000Z,1,10,13.650000
UTP,non_professional,alice,alice-phone,accessed,true,true,2026-03-05T08:00:05.000Z,2026-03-05T08:09:00.000Z,1,0,1.000000
UTP,professional,carol,carol-phone,accessed,true,true,2026-03-20T18:00:02.000Z,2026-03-20T18:04:00.000Z,1,0,24.000000
UTP,professional,carol,carol-tab,accessed,true,true,2026-03-14T09:00:01.000Z,2026-03-14T09:20:00.000Z,1,0,24.000000
`;

const SCHEDULES = [
  {
    product: 'CTA_A',
    unit: 'user',
    basis: 'entitled',
    effectiveFrom: '2024-01-01',
    source: 'test, 2024',
    fees: {
      professional: { type: 'monthly', amount: '45.000000' },
      non_professional: { type: 'monthly', amount: '5.250000' },
    },
  },
  {
    product: 'CTA_B',
    unit: 'user',
    basis: 'entitled',
    effectiveFrom: '2024-01-01',
    source: 'per packet, "capped"',
    fees: {
      professional: { type: 'monthly', amount: '13.650000' },
      non_professional: { type: 'per_query', perQuery: '0.007500', cap: '1.000000' },
    },
  },
  {
    product: 'UTP',
    unit: 'device',
    basis: 'accessed',
    effectiveFrom: '2018-04-01',
    source: 'test',
    fees: {
      professional: { type: 'monthly', amount: '24.000000' },
      non_professional: { type: 'monthly', amount: '1.000000' },
    },
  },
];

const MARCH_JSON = {
  month: '2026-03',
  catalogVersion: 'test-2026.1',
  feeSchedules: SCHEDULES,
  rows: [
    {
      product: 'CTA_A',
      category: 'non_professional',
      subscribers: 1,
      devices: 2,
      queries: 0,
      fee: '5.250000',
    },
    { product: 'CTA_A', category: 'professional', subscribers: 2, devices: 2, queries: 0, fee: '90.000000' },
    {
      product: 'CTA_B',
      category: 'non_professional',
      subscribers: 2,
      devices: 2,
      queries: 240,
      fee: '1.300000',
    },
    { product: 'CTA_B', category: 'professional', subscribers: 2, devices: 1, queries: 10, fee: '27.300000' },
    { product: 'UTP', category: 'non_professional', subscribers: 1, devices: 1, queries: 0, fee: '1.000000' },
    { product: 'UTP', category: 'professional', subscribers: 2, devices: 2, queries: 0, fee: '48.000000' },
  ],
};

/**
 * February: gina (revoked on the 15th) and bob count on CTA_A, alice too though she never used it
 * (entitled basis); carol, dave and erin are non-professional on CTA_B with no queries, so no fee;
 * nobody received UTP in real time. erin's session from the 28th shows as one device.
 */
const FEBRUARY_ROWS = [
  { product: 'CTA_A', category: 'non_professional', subscribers: 1, devices: 0, queries: 0, fee: '5.250000' },
  { product: 'CTA_A', category: 'professional', subscribers: 2, devices: 1, queries: 0, fee: '90.000000' },
  { product: 'CTA_B', category: 'non_professional', subscribers: 3, devices: 1, queries: 0, fee: '0.000000' },
  { product: 'CTA_B', category: 'professional', subscribers: 0, devices: 0, queries: 0, fee: '0.000000' },
  { product: 'UTP', category: 'non_professional', subscribers: 0, devices: 0, queries: 0, fee: '0.000000' },
  { product: 'UTP', category: 'professional', subscribers: 0, devices: 0, queries: 0, fee: '0.000000' },
];

/** The hub's own app (error envelope and all) with the report routes mounted as the lead mounts them. */
function adminApp(db: Db): App {
  const app = createApp({
    logger: silentLogger,
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    health: new HealthChecks(),
  });
  app.route('/admin', reportRoutes({ db, catalog }));
  return app;
}

forEachDb((_engine, getDb) => {
  let bus: Bus;
  let prefix: string;
  let meter: Meter;

  beforeAll(async () => {
    const db = getDb();
    await scriptHistory(db, catalog);
    prefix = uniqueName('mdhub_report');
    bus = await openBus({ url: REDIS_URL, prefix });
    const stream = bus.work('usage');
    const events = scriptEvents().map((event) => JSON.stringify(event));
    // Every event twice, the second time in reverse (a retrying edge, a replay).
    await stream.add(events);
    await stream.add([...events].reverse());
    meter = await runMeter({ db, bus, batchSize: 50, blockMs: 50 });
    const deadline = Date.now() + 15_000;
    while ((await stream.length()) > 0 || (await stream.pendingCount(METER_GROUP)) > 0) {
      if (Date.now() > deadline) throw new Error('the meter did not drain the usage stream');
      await sleep(25);
    }
  });

  afterAll(async () => {
    await meter?.stop();
    await bus?.close();
    if (prefix) await cleanupRedisPrefix(prefix);
  });

  it('reports March as worked out by hand, in CSV with the detail', async () => {
    const generated = await generateUsageReport(getDb(), catalog, '2026-03', { format: 'csv', detail: true });
    expect(generated.body).toBe(MARCH_CSV);
    expect(generated.contentType).toBe('text/csv; charset=utf-8');
  });

  it("is rendered the same by the auditor's verify.mjs, which also knows the layout filed before the one table", async () => {
    const { report } = await generateUsageReport(getDb(), catalog, '2026-03', { detail: true });
    const script = (await import(VERIFY_SCRIPT)) as {
      reportCsv: (report: unknown) => string;
      sectionedCsv: (report: unknown) => string;
    };
    expect(script.reportCsv(report)).toBe(MARCH_CSV);
    expect(script.sectionedCsv(report)).toBe(MARCH_SECTIONED_CSV);
  });

  it('writes a user or device id a spreadsheet would run as a formula as plain text', async () => {
    const { report } = await generateUsageReport(getDb(), catalog, '2026-03', { detail: true });
    const detail = { ...report.details![0]!, user: '=HYPERLINK("http://evil.example","x")', device: '@cmd' };
    const csv = reportCsv({ ...report, details: [detail] });
    expect(csv.trimEnd().split('\n').at(-1)).toBe(
      `detail,2026-03,test-2026.1,CTA_A,non_professional,,2,0,5.250000,"'=HYPERLINK(""http://evil.example"",""x"")","'@cmd",entitled,true,true,2026-03-02T09:30:00.000Z,2026-03-31T23:59:59.000Z,,,,,,,`,
    );
  });

  it('reports March as worked out by hand, in JSON', async () => {
    const generated = await generateUsageReport(getDb(), catalog, '2026-03', { format: 'json' });
    expect(JSON.parse(generated.body)).toEqual(MARCH_JSON);
    expect(generated.body).toBe(`${JSON.stringify(MARCH_JSON, null, 2)}\n`);
  });

  it('counts February on its own, the session across the month end included', async () => {
    const generated = await generateUsageReport(getDb(), catalog, '2026-02', { detail: true });
    expect(generated.report.rows).toEqual(FEBRUARY_ROWS);
    const erin = generated.report.details?.find((d) => d.user === 'erin');
    expect(erin).toMatchObject({
      firstAccess: '2026-02-28T23:51:00.000Z',
      lastAccess: '2026-02-28T23:59:59.000Z',
    });
  });

  it('regenerates byte for byte and records every generation with its SHA-256 in the audit log', async () => {
    const db = getDb();
    const first = await generateUsageReport(db, catalog, '2026-03', {
      format: 'csv',
      detail: true,
      actor: AUDITOR,
      at: 1,
    });
    const again = await generateUsageReport(db, catalog, '2026-03', {
      format: 'csv',
      detail: true,
      actor: AUDITOR,
      at: 2,
    });
    expect(again.body).toBe(first.body);
    expect(again.sha256).toBe(first.sha256);
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
    const { rows } = await db.query<{ seq: number; actor_id: string; details_json: string }>(
      "select seq, actor_id, details_json from audit_log where action = 'report.generate' and subject = 'report:usage:2026-03' and seq >= $1 order by seq",
      [first.auditSeq],
    );
    expect(rows.map((r) => r.seq)).toEqual([first.auditSeq, again.auditSeq]);
    expect(rows.map((r) => r.actor_id)).toEqual(['cathy', 'cathy']);
    expect(JSON.parse(rows[0]!.details_json)).toEqual({
      report: 'usage',
      month: '2026-03',
      format: 'csv',
      detail: true,
      catalogVersion: 'test-2026.1',
      sha256: first.sha256,
      bytes: Buffer.byteLength(MARCH_CSV),
    });
  });

  it('keeps what it counted per user and product in the monthly ledger', async () => {
    const db = getDb();
    await generateUsageReport(db, catalog, '2026-03');
    const { rows } = await db.query(
      `select product, user_id, category, entitled, accessed, devices, queries from usage_monthly
        where month = '2026-03' order by product, user_id`,
    );
    const row = (
      product: string,
      user: string,
      category: string,
      entitled: boolean,
      accessed: boolean,
      devices: number,
      queries: number,
    ) => ({
      product,
      user_id: user,
      category,
      entitled,
      accessed,
      devices,
      queries,
    });
    expect(rows).toEqual([
      row('CTA_A', 'alice', 'non_professional', true, true, 2, 0),
      row('CTA_A', 'bob', 'professional', true, true, 1, 0),
      row('CTA_A', 'hank', 'professional', false, true, 1, 0),
      row('CTA_B', 'bob', 'professional', true, false, 0, 0),
      row('CTA_B', 'carol', 'professional', true, true, 1, 10),
      row('CTA_B', 'dave', 'non_professional', true, true, 1, 203),
      row('CTA_B', 'erin', 'non_professional', true, true, 1, 40),
      row('UTP', 'alice', 'non_professional', true, true, 2, 1),
      row('UTP', 'carol', 'professional', true, true, 2, 0),
    ]);
  });

  it('serves the same bytes over GET /admin/reports/usage, hash in a header', async () => {
    const db = getDb();
    const app = adminApp(db);
    const res = await app.request('/admin/reports/usage?month=2026-03&format=csv&detail=1');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const body = await res.text();
    expect(body).toBe(MARCH_CSV);
    const json = await app.request('/admin/reports/usage?month=2026-03');
    expect(await json.json()).toEqual(MARCH_JSON);
    const { rows } = await db.query<{ details_json: string; actor_id: string }>(
      "select details_json, actor_id from audit_log where action = 'report.generate' order by seq desc limit 2",
    );
    expect(JSON.parse(rows[1]!.details_json).sha256).toBe(res.headers.get('x-report-sha256'));
    expect(rows[1]!.actor_id).toBe('reports');
  });

  it('refuses a malformed month, format or detail with the error envelope', async () => {
    const app = adminApp(getDb());
    for (const query of [
      '',
      'month=2026-3',
      'month=2026-13',
      'month=2026-03&format=xml',
      'month=2026-03&detail=yes',
      'month=2026-03&extra=1',
    ]) {
      const res = await app.request(`/admin/reports/usage?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code, query).toBe('invalid_query');
    }
    const res = await app.request('/admin/reports/usage?month=2026-3&format=xml');
    expect(((await res.json()) as { error: { message: string } }).error.message).toBe(
      'month must be written YYYY-MM; format must be json or csv',
    );
  });

  it('refuses a month no fee schedule covers, naming the product, with 422 report_unavailable', async () => {
    const message = 'catalog test-2026.1 has no fee schedule for CTA_A in force on 2023-12-01';
    await expect(generateUsageReport(getDb(), catalog, '2023-12')).rejects.toThrow(message);
    const res = await adminApp(getDb()).request('/admin/reports/usage?month=2023-12', {
      headers: { 'x-request-id': 'req-uncovered' },
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      error: { code: 'report_unavailable', message, requestId: 'req-uncovered' },
    });
  });
});
