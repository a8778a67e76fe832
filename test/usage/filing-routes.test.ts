/**
 * The filing routes over HTTP, mounted as the api role mounts them, with the operator set by a
 * stand-in for operatorAuth: the stored bytes served exactly, the refusals in the error envelope,
 * a late event showing in the diff and the drift state, and an amendment with its delta.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OperatorRole } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import {
  type DriftWatch,
  type Filing,
  filingRoutes,
  generateUsageReport,
  startDriftWatch,
  writeLedger,
} from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { scriptCatalog, scriptEvents, scriptHistory, t } from './ledger-script.js';

const catalog = scriptCatalog();
const NOW = t('2026-04-02T09:00:00Z');

forEachDb((_engine, getDb) => {
  let app: App;
  let drift: DriftWatch;

  beforeAll(async () => {
    const db: Db = getDb();
    await scriptHistory(db, catalog);
    await db.transaction((tx) => writeLedger(tx, scriptEvents()));
    drift = startDriftWatch({ db, catalog, intervalMs: 3_600_000 });
    app = createApp({
      logger: silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
      health: new HealthChecks(),
    });
    app.use('/admin/*', async (c, next) => {
      const role = (c.req.header('x-test-role') ?? 'compliance') as OperatorRole;
      c.set('actor', { type: 'operator', id: `op-${role}`, role });
      await next();
    });
    app.route('/admin', filingRoutes({ db, catalog, drift, now: () => NOW }));
  });

  afterAll(async () => {
    await drift?.stop();
  });

  const post = (path: string, body: unknown, role = 'compliance') =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-test-role': role },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
    const body = (await res.json()) as { error: { code: string; message: string } };
    return { status: res.status, code: body.error.code, message: body.error.message };
  }

  it('refuses an open month with 409 month_open, and finance or support with 403', async () => {
    expect(await errorOf(await post('/admin/reports/filings', { month: '2026-04' }))).toEqual({
      status: 409,
      code: 'month_open',
      message:
        '2026-04 is not over: it ends at 2026-05-01T00:00:00.000Z; a month is filed once it has ended, so late usage cannot be missing from it',
    });
    for (const role of ['finance', 'support'])
      expect((await post('/admin/reports/filings', { month: '2026-03' }, role)).status).toBe(403);
    for (const [body, code] of [
      [{}, 'invalid_request'],
      [{ month: '2026-3' }, 'invalid_request'],
      [{ month: '2026-03', extra: 1 }, 'invalid_request'],
      ['not json', 'invalid_request'],
      [{ month: '2026-03', licensor: 'OPRA' }, 'unknown_licensor'],
    ] as const)
      expect(await errorOf(await post('/admin/reports/filings', body))).toMatchObject({ status: 400, code });
  });

  let filing: Filing;

  it('files with 201 and serves each stored rendering byte for byte, hash in a header', async () => {
    const res = await post('/admin/reports/filings', { month: '2026-03' });
    expect(res.status).toBe(201);
    filing = (await res.json()) as Filing;
    expect(filing).toMatchObject({
      month: '2026-03',
      kind: 'filing',
      filedAt: NOW,
      filedBy: { id: 'op-compliance' },
    });
    for (const f of filing.files) {
      const got = await app.request(
        `/admin/reports/filings/${filing.id}?format=${f.format}&detail=${f.detail ? 1 : 0}`,
      );
      expect(got.status).toBe(200);
      expect(got.headers.get('x-report-sha256')).toBe(f.sha256);
      expect(got.headers.get('content-type')).toBe(
        f.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
      );
      const generated = await generateUsageReport(getDb(), catalog, '2026-03', {
        format: f.format,
        detail: f.detail,
      });
      expect(await got.text()).toBe(generated.body);
    }
    const plain = await app.request(`/admin/reports/filings/${filing.id}`);
    expect(await plain.text()).toBe((await generateUsageReport(getDb(), catalog, '2026-03')).body);
    expect((await app.request('/admin/reports/filings/999999')).status).toBe(404);
    expect((await app.request('/admin/reports/filings/abc')).status).toBe(404);
    expect(await errorOf(await app.request(`/admin/reports/filings/${filing.id}?format=xml`))).toMatchObject({
      status: 400,
      code: 'invalid_query',
    });
    expect(await errorOf(await app.request(`/admin/reports/filings/${filing.id}/delta`))).toMatchObject({
      status: 404,
      code: 'no_delta',
    });
  });

  it('shows a late event in the list, the diff and the drift state, and amends with the delta', async () => {
    const db = getDb();
    const late = {
      v: 1 as const,
      id: 'ev-late-routes',
      edge: 'e3',
      at: t('2026-03-20T10:00:00Z'),
      day: '2026-03-20',
      user: 'dave',
      device: 'dave-phone',
      kind: 'first_access' as const,
      session: 'd9',
      product: 'UTP',
    };
    await db.transaction((tx) => writeLedger(tx, [late]));
    const list = (await (await app.request('/admin/reports/filings?month=2026-03')).json()) as {
      checkedAt: number;
      filings: Array<{ id: number; matchesLive: boolean }>;
    };
    expect(list).toEqual({
      checkedAt: NOW,
      filings: [expect.objectContaining({ id: filing.id, matchesLive: false })],
    });
    const diff = (await (await app.request('/admin/reports/diff?month=2026-03')).json()) as {
      matches: boolean;
      subscribers: Array<{ user: string; lateEvents: Array<{ id: string }> }>;
    };
    expect(diff.matches).toBe(false);
    expect(diff.subscribers.map((s) => [s.user, s.lateEvents.map((e) => e.id)])).toEqual([
      ['dave', [late.id]],
    ]);
    expect(await (await app.request('/admin/reports/drift')).json()).toEqual({
      checkedAt: expect.any(Number),
      chains: [{ month: '2026-03', licensor: null, filing: filing.id, drifted: true }],
    });
    expect((await app.request('/admin/reports/diff?month=2026-02')).status).toBe(404);

    expect(
      await errorOf(await post(`/admin/reports/filings/${filing.id}/amendments`, { reason: ' ' })),
    ).toMatchObject({
      status: 400,
      code: 'invalid_request',
    });
    expect(
      (await post(`/admin/reports/filings/${filing.id}/amendments`, { reason: 'late' }, 'finance')).status,
    ).toBe(403);
    const res = await post(`/admin/reports/filings/${filing.id}/amendments`, {
      reason: 'dave-phone caught up late',
    });
    expect(res.status).toBe(201);
    const amendment = (await res.json()) as Filing & { delta: unknown };
    expect(amendment).toMatchObject({
      kind: 'amendment',
      replaces: filing.id,
      reason: 'dave-phone caught up late',
    });
    const delta = await app.request(`/admin/reports/filings/${amendment.id}/delta`);
    expect(JSON.parse(await delta.text())).toEqual(amendment.delta);
    expect(
      await errorOf(await post(`/admin/reports/filings/${filing.id}/amendments`, { reason: 'again' })),
    ).toMatchObject({
      status: 409,
      code: 'superseded',
    });
    expect(await (await app.request('/admin/reports/drift')).json()).toMatchObject({
      chains: [{ filing: amendment.id, drifted: false }],
    });
  });
});
