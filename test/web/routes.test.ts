/**
 * What `mountWeb` serves, over HTTP without a browser: the pages and their assets, `GET /admin/me`
 * and `GET /admin/reports/usage/daily` behind operator authentication, on PGlite and PostgreSQL.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { type Catalog, DEFAULT_CATALOG_PATH, loadCatalog } from '../../config/index.js';
import { createOperator, operatorAuth } from '../../entitlements/index.js';
import type { OperatorRole } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { type UsageEvent, writeLedger } from '../../usage/index.js';
import { mountWeb } from '../../web/index.js';
import { forEachDb } from '../helpers/db.js';

/** The default catalog with UTP counted per device, to prove the chart counts on each product's unit. */
function catalogWithDeviceProduct(): Catalog {
  const data = JSON.parse(readFileSync(DEFAULT_CATALOG_PATH, 'utf8')) as {
    products: Array<{ id: string; unit: string }>;
  };
  for (const product of data.products) if (product.id === 'UTP') product.unit = 'device';
  const path = join(mkdtempSync(join(tmpdir(), 'mdhub-catalog-')), 'catalog.json');
  writeFileSync(path, JSON.stringify(data));
  return loadCatalog(path);
}

const TOKENS: Record<OperatorRole, string> = {
  admin: 'mdo_web-test-admin-token-000000000000',
  compliance: 'mdo_web-test-compliance-token-0000000',
  finance: 'mdo_web-test-finance-token-000000000',
  support: 'mdo_web-test-support-token-000000000',
};

function realtimeUse(
  product: string,
  day: string,
  user: string,
  device: string | null,
  realtime = true,
): UsageEvent {
  const at = Date.parse(`${day}T10:00:00Z`);
  const common = { v: 1 as const, edge: 'e1', at, day, user, device, product };
  return realtime
    ? {
        ...common,
        id: `fa-${product}-${day}-${user}-${device}`,
        kind: 'first_access',
        session: `s-${user}-${device}`,
      }
    : {
        ...common,
        id: `q-${product}-${day}-${user}-${device}`,
        kind: 'query',
        symbol: 'IBM',
        type: 'Q',
        mode: 'delayed',
        requestId: 'r1',
      };
}

forEachDb((_engine, getDb) => {
  let app: App;
  let db: Db;

  const get = (path: string, role?: OperatorRole, headers: Record<string, string> = {}) =>
    app.request(path, { headers: role ? { authorization: `Bearer ${TOKENS[role]}`, ...headers } : headers });

  beforeAll(async () => {
    db = getDb();
    app = createApp({ logger: silentLogger, metrics: createMetricsRegistry(), health: new HealthChecks() });
    app.use('/admin/*', operatorAuth(db));
    mountWeb({ app, db, catalog: catalogWithDeviceProduct() });
    for (const role of Object.keys(TOKENS) as OperatorRole[]) {
      await db.transaction((tx) =>
        createOperator({
          ctx: { actor: { type: 'system', id: 'test' }, tx, at: Date.now() },
          input: { id: `op-${role}`, role, token: TOKENS[role] },
        }),
      );
    }
    await db.transaction((tx) =>
      writeLedger(tx, [
        realtimeUse('CTA_A', '2026-03-01', 'u1', 'phone'),
        realtimeUse('CTA_A', '2026-03-01', 'u1', 'tablet'),
        realtimeUse('CTA_A', '2026-03-01', 'u2', null),
        realtimeUse('CTA_A', '2026-03-02', 'u3', null, false),
        realtimeUse('UTP', '2026-03-01', 'u1', 'phone'),
        realtimeUse('UTP', '2026-03-01', 'u1', 'tablet'),
        realtimeUse('UTP', '2026-03-31', 'u2', null),
        realtimeUse('UTP', '2026-04-01', 'u2', null),
        realtimeUse('NOT_IN_CATALOG', '2026-03-01', 'u1', null),
      ]),
    );
  });

  it('serves both pages with a policy that allows only their own scripts and connections', async () => {
    for (const [path, script] of [
      ['/app', 'board.js'],
      ['/console', 'console.js'],
    ] as const) {
      const response = await get(path);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(response.headers.get('content-security-policy')).toContain("connect-src 'self'");
      const page = await response.text();
      expect(page.startsWith('<!doctype html><html lang="en">')).toBe(true);
      expect(page).toContain(`<script type="module" src="/assets/${script}"></script>`);
      expect(page).not.toMatch(/https?:\/\//);
    }
  });

  it('serves the assets with their type and an ETag, and nothing else from disk', async () => {
    const script = await get('/assets/board.js');
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const etag = script.headers.get('etag') as string;
    expect((await get('/assets/board.js', undefined, { 'if-none-match': etag })).status).toBe(304);
    expect((await get('/assets/style.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    for (const path of ['/assets/nope.js', '/assets/..%2Fpages.ts', '/assets/%2E%2E%2Findex.ts']) {
      expect((await get(path)).status).toBe(404);
    }
  });

  it('tells an operator who they are and what they may do', async () => {
    const support = await get('/admin/me', 'support');
    expect(await support.json()).toEqual({
      id: 'op-support',
      role: 'support',
      permissions: ['users.read', 'users.create', 'tokens.manage'],
    });
    const admin = (await (await get('/admin/me', 'admin')).json()) as { permissions: string[] };
    expect(admin.permissions).toContain('grants.change');
    expect((await get('/admin/me')).status).toBe(401);
  });

  it('counts real-time subscribers per day on each product’s unit, within the month only', async () => {
    const response = await get('/admin/reports/usage/daily?month=2026-03', 'compliance');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      month: '2026-03',
      days: [
        // CTA_A counts users (u1 on two devices is one), UTP counts devices; a delayed query is no real-time use.
        { day: '2026-03-01', product: 'CTA_A', subscribers: 2 },
        { day: '2026-03-01', product: 'UTP', subscribers: 2 },
        { day: '2026-03-31', product: 'UTP', subscribers: 1 },
      ],
    });
    expect(await (await get('/admin/reports/usage/daily?month=2026-05', 'finance')).json()).toEqual({
      month: '2026-05',
      days: [],
    });
  });

  it('refuses the daily usage to roles without reports and to malformed months', async () => {
    expect((await get('/admin/reports/usage/daily?month=2026-03')).status).toBe(401);
    const support = await get('/admin/reports/usage/daily?month=2026-03', 'support');
    expect(support.status).toBe(403);
    for (const query of ['', '?month=2026-3', '?month=2026-13', '?month=2026-03&format=csv']) {
      const response = await get(`/admin/reports/usage/daily${query}`, 'admin');
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_query');
    }
  });
});
