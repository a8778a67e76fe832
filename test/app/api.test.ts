import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../../app/api.js';
import { type Hub, startHub } from '../../app/hub.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { silentLogger } from '../../platform/logger.js';

const ADMIN = 'admin-token-for-the-api-role-test-0123456789';
let hub: Hub;
let base: string;

beforeAll(async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'mdhub-api-'));
  const env = parseEnv({ PORT: '0', HOST: '127.0.0.1', MDHUB_DATA_DIR: dataDir, MDHUB_ADMIN_TOKEN: ADMIN });
  hub = await startHub({
    env,
    catalog: loadCatalog(),
    logger: silentLogger,
    roles: ['api'],
    starters: { api: startApi },
  });
  base = `http://127.0.0.1:${hub.port}`;
});

afterAll(async () => {
  await hub?.stop();
});

function call(path: string, token: string | undefined, init: { method?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(`${base}${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

async function operatorToken(id: string, role: string): Promise<string> {
  const res = await call('/admin/operators', ADMIN, { method: 'POST', body: { id, role } });
  expect(res.status).toBe(201);
  return ((await res.json()) as { token: string }).token;
}

describe('api role', () => {
  it('refuses the admin API without an operator token, in the error envelope', async () => {
    const res = await call('/admin/users/u1', undefined);
    expect(res.status).toBe(401);
    const body = (await res.json()) as { error: { code: string; requestId: string } };
    expect(body.error.code).toBeTruthy();
    expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
  });

  it('answers a body sent without Content-Type: application/json with 415 saying what to send, changing nothing', async () => {
    const body = JSON.stringify({ id: 'no-type' });
    const bare = await fetch(`${base}/admin/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': '' },
      body: new Blob([body]),
    });
    const form = await fetch(`${base}/admin/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    for (const res of [bare, form]) {
      expect(res.status).toBe(415);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('unsupported_media_type');
      expect(error.message).toMatch(/Content-Type: application\/json/);
    }
    expect((await call('/admin/users/no-type', ADMIN)).status).toBe(404);
    const charset = await fetch(`${base}/admin/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json; charset=utf-8' },
      body,
    });
    expect(charset.status).toBe(201);
  });

  it('lets MDHUB_ADMIN_TOKEN grant real time, and shows the decision with its reasons', async () => {
    expect((await call('/admin/users', ADMIN, { method: 'POST', body: { id: 'u1' } })).status).toBe(201);
    expect(
      (await call('/admin/users/u1/agreements', ADMIN, { method: 'POST', body: { product: 'CTA_A' } }))
        .status,
    ).toBe(201);
    const put = await call('/admin/users/u1/entitlements/CTA_A', ADMIN, {
      method: 'PUT',
      body: { realtime: true },
    });
    expect(put.status).toBe(200);
    const user = await call('/admin/users/u1', ADMIN);
    expect(JSON.stringify(await user.json())).toContain('realtime');
  });

  it('keeps the audit log behind audit.read: compliance reads it, support does not', async () => {
    const compliance = await operatorToken('c1', 'compliance');
    const support = await operatorToken('s1', 'support');
    const verified = await call('/admin/audit/verify', compliance);
    expect(verified.status).toBe(200);
    expect(await verified.json()).toMatchObject({ ok: true });
    expect((await call('/admin/audit/verify', support)).status).toBe(403);
    expect((await call('/admin/audit?subject=user:u1', support)).status).toBe(403);
    const history = await call('/admin/audit?subject=user:u1', compliance);
    expect(history.status).toBe(200);
    expect(JSON.stringify(await history.json())).toContain('grant');
  });

  it('exports the audit log as canonical JSON lines to readers, and lets only admin and compliance checkpoint', async () => {
    const finance = await operatorToken('f0', 'finance');
    const compliance = await operatorToken('c0', 'compliance');
    const exported = await call('/admin/audit/export?subject=operator:f0', finance);
    expect(exported.status).toBe(200);
    const lines = (await exported.text()).trim().split('\n');
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({ subject: 'operator:f0', hash: expect.stringMatching(/^[0-9a-f]{64}$/) }),
    ]);
    expect((await call('/admin/audit/export?from=tomorrow', finance)).status).toBe(400);
    expect((await call('/admin/audit/checkpoint', finance, { method: 'POST' })).status).toBe(403);
    const signed = await call('/admin/audit/checkpoint', compliance, { method: 'POST' });
    expect(signed.status).toBe(200);
    expect(await signed.json()).toMatchObject({ latest: { seq: expect.any(Number) } });
  });

  it('lets finance read the usage report and reconciliation, and keeps support out', async () => {
    const finance = await operatorToken('f1', 'finance');
    const support = await operatorToken('s2', 'support');
    const report = await call('/admin/reports/usage?month=2026-10', finance);
    expect(report.status).toBe(200);
    expect(await report.json()).toMatchObject({ month: '2026-10', catalogVersion: '2026-12-01' });
    const csv = await call('/admin/reports/usage?month=2026-10&format=csv', finance);
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    expect((await call('/admin/reports/reconciliation?month=2026-10', finance)).status).toBe(200);
    expect((await call('/admin/reports/usage?month=2026-10', support)).status).toBe(403);
    expect((await call('/admin/reports/reconciliation?month=2026-10', support)).status).toBe(403);
  });

  it('lets compliance file a month and pack its evidence and finance read the filings, refusing support and finance to file or pack', async () => {
    const compliance = await operatorToken('c3', 'compliance');
    const finance = await operatorToken('f3', 'finance');
    const support = await operatorToken('s3', 'support');
    const month = { month: '2025-06' };
    const refused = await call('/admin/reports/filings', finance, { method: 'POST', body: month });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({
      error: { code: 'forbidden', message: 'this needs one of the roles: admin, compliance' },
    });
    expect((await call('/admin/reports/filings', support, { method: 'POST', body: month })).status).toBe(403);
    const filed = await call('/admin/reports/filings', compliance, { method: 'POST', body: month });
    expect(filed.status).toBe(201);
    const { id } = (await filed.json()) as { id: number };
    const amend = { method: 'POST', body: { reason: 'test' } };
    expect((await call(`/admin/reports/filings/${id}/amendments`, finance, amend)).status).toBe(403);
    expect((await call(`/admin/reports/filings/${id}/amendments`, compliance, amend)).status).toBe(409);
    const list = await call('/admin/reports/filings?month=2025-06', finance);
    expect(list.status).toBe(200);
    expect(await list.json()).toMatchObject({ filings: [{ id, matchesLive: true }] });
    expect((await call(`/admin/reports/filings/${id}?format=csv&detail=1`, finance)).status).toBe(200);
    expect((await call('/admin/reports/filings', support)).status).toBe(403);
    const drift = await call('/admin/reports/drift', finance);
    expect(await drift.json()).toMatchObject({
      chains: [{ month: '2025-06', licensor: null, filing: id, drifted: false }],
    });
    const metrics = await (await call('/metrics', undefined)).text();
    expect(metrics).toContain('mdhub_report_drift{month="2025-06",licensor="all"} 0');

    // The filing was signed into a checkpoint before its POST answered, so it can be packed at once.
    const pack = await call('/admin/audit/pack?month=2025-06', compliance);
    expect(pack.status).toBe(200);
    expect(pack.headers.get('content-type')).toBe('application/gzip');
    expect(pack.headers.get('x-pack-sha256')).toMatch(/^[0-9a-f]{64}$/);
    const packRefused = await call('/admin/audit/pack?month=2025-06', finance);
    expect(packRefused.status).toBe(403);
    expect(await packRefused.json()).toMatchObject({
      error: { code: 'forbidden', message: 'this needs one of the roles: admin, compliance' },
    });
  });

  it('answers the Stripe webhook with 503 while no signing secret is configured', async () => {
    const res = await call('/webhooks/stripe', undefined, { method: 'POST', body: { id: 'evt_1' } });
    expect(res.status).toBe(503);
  });

  it('serves the OpenAPI document', async () => {
    const res = await call('/openapi.json', undefined);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { openapi: string }).openapi).toMatch(/^3\./);
  });
});
