import { beforeAll, expect, it } from 'vitest';
import type { Db } from '../../platform/db/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { readUnusedEntitlements, reportRoutes, unusedCsv, writeLedger } from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { licensorCatalog, licensorEvents, licensorHistory } from './licensor-script.js';

const catalog = licensorCatalog();

/**
 * May 2026 of licensor-script.ts: bob's CTA_A grant ran 5–20 May unused (professional, 45.00);
 * cara's application token never received CTA_A (non-display, 60.00); dan never used UTP, which
 * is counted on the accessed basis, so it cost nothing.
 */
const MAY_CSV = `month,2026-05
catalog_version,test-lic-1

product,category,user,basis,entitled_first,entitled_last,fee
CTA_A,non_display,cara,entitled,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,60.000000
CTA_A,professional,bob,entitled,2026-05-05T00:00:00.000Z,2026-05-19T23:59:59.999Z,45.000000
UTP,professional,dan,accessed,2026-05-01T00:00:00.000Z,2026-05-31T23:59:59.999Z,0.000000

total,105.000000
`;

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
  beforeAll(async () => {
    const db = getDb();
    await licensorHistory(db, catalog);
    await db.transaction((tx) => writeLedger(tx, licensorEvents()));
  });

  it('lists who was entitled but never received real time, with the fee each cost', async () => {
    const unused = await readUnusedEntitlements(getDb(), catalog, '2026-05');
    expect(unused.rows.map((r) => [r.product, r.category, r.user, r.fee])).toEqual([
      ['CTA_A', 'non_display', 'cara', '60.000000'],
      ['CTA_A', 'professional', 'bob', '45.000000'],
      ['UTP', 'professional', 'dan', '0.000000'],
    ]);
    expect(unused.total).toBe('105.000000');
    expect(unusedCsv(unused)).toBe(MAY_CSV);
  });

  it('lists nobody in a month before any grant', async () => {
    const unused = await readUnusedEntitlements(getDb(), catalog, '2026-03');
    expect(unused).toEqual({ month: '2026-03', catalogVersion: 'test-lic-1', rows: [], total: '0.000000' });
  });

  it('serves the list over GET /admin/reports/unused without writing an audit record', async () => {
    const db = getDb();
    const count = async () =>
      (await db.query<{ n: number }>('select count(*)::int as n from audit_log')).rows[0]!.n;
    const before = await count();
    const app = adminApp(db);
    const csv = await app.request('/admin/reports/unused?month=2026-05&format=csv');
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(await csv.text()).toBe(MAY_CSV);
    const json = await app.request('/admin/reports/unused?month=2026-05');
    expect(await json.json()).toMatchObject({ month: '2026-05', total: '105.000000' });
    expect(await count()).toBe(before);
    for (const query of ['', 'month=2026-5', 'month=2026-05&format=xml', 'month=2026-05&detail=1']) {
      const res = await app.request(`/admin/reports/unused?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid_query');
    }
    const uncovered = await app.request('/admin/reports/unused?month=2017-01');
    expect(uncovered.status).toBe(422);
  });
});
