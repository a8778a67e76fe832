import { describe, expect, it } from 'vitest';
import { HealthChecks } from '../../platform/health.js';
import { createApp } from '../../platform/http/app.js';
import { ApiError } from '../../platform/http/errors.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';

interface Ready {
  checks: Record<string, unknown>;
}

function app(checks: HealthChecks = new HealthChecks()) {
  return createApp({ logger: silentLogger, metrics: createMetricsRegistry(), health: checks });
}

describe('HTTP app', () => {
  it('answers /healthz', async () => {
    const res = await app().request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('reports every readiness check and 503 when one fails', async () => {
    const checks = new HealthChecks();
    checks.add('database', () => ({ ok: true, detail: 'pglite' }));
    checks.add('feed', () => ({ ok: false, detail: 'vendor socket closed' }));
    const res = await app(checks).request('/readyz');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: 'not_ready',
      checks: {
        database: { ok: true, detail: 'pglite' },
        feed: { ok: false, detail: 'vendor socket closed' },
      },
    });
  });

  it('treats a throwing readiness check as not ready', async () => {
    const checks = new HealthChecks();
    checks.add('bus', () => {
      throw new Error('connection refused');
    });
    const res = await app(checks).request('/readyz');
    expect(res.status).toBe(503);
    expect(((await res.json()) as Ready).checks.bus).toEqual({ ok: false, detail: 'connection refused' });
  });

  it('serves Prometheus metrics with mdhub_ process metrics', async () => {
    const res = await app().request('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(await res.text()).toMatch(/^mdhub_process_cpu_user_seconds_total /m);
  });

  it('answers unknown routes and thrown ApiErrors with the error envelope and request id', async () => {
    const a = app();
    a.get('/boom', () => {
      throw new ApiError(409, 'conflict', 'already there');
    });
    const missing = await a.request('/nope', { headers: { 'x-request-id': 'req-1' } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { code: 'not_found', message: 'no route for GET /nope', requestId: 'req-1' },
    });
    const boom = await a.request('/boom');
    expect(boom.status).toBe(409);
    const body = (await boom.json()) as { error: Record<string, string> };
    expect(body.error).toMatchObject({ code: 'conflict', message: 'already there' });
    expect(body.error.requestId).toBe(boom.headers.get('x-request-id'));
  });

  it('hides an unexpected error behind a 500 that names the request id', async () => {
    const a = app();
    a.get('/bug', () => {
      throw new Error('secret internal detail');
    });
    const res = await a.request('/bug');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('secret internal detail');
    expect(JSON.parse(text).error.code).toBe('internal');
  });

  it('does not echo a hostile request id', async () => {
    const res = await app().request('/healthz', { headers: { 'x-request-id': '<script>alert(1)</script>' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
