import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { DomainError, type ErrorKind } from '../../platform/errors.js';
import { HealthChecks } from '../../platform/health.js';
import { createApp } from '../../platform/http/app.js';
import { type HttpLimits, type HttpServer, listen } from '../../platform/http/server.js';
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
    expect(await res.text()).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('answers unknown routes and thrown DomainErrors with the error envelope and request id', async () => {
    const a = app();
    a.get('/boom', () => {
      throw new DomainError('conflict', 'conflict', 'already there');
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

  it('answers each kind with its status, keeping the code, message, details and Retry-After', async () => {
    const statuses: Record<ErrorKind, number> = {
      invalid: 400,
      unauthenticated: 401,
      forbidden: 403,
      not_found: 404,
      conflict: 409,
      too_large: 413,
      unsupported_media_type: 415,
      unprocessable: 422,
      rate_limited: 429,
      internal: 500,
      unavailable: 503,
    };
    const a = app();
    a.get('/kind/:kind', (c) => {
      throw new DomainError(c.req.param('kind') as ErrorKind, 'some_code', 'a message');
    });
    a.get('/slow-down', () => {
      throw new DomainError('rate_limited', 'rate_limited', 'retry in 7 s', {
        details: { limit: 5 },
        retryAfterS: 7,
      });
    });
    for (const [kind, status] of Object.entries(statuses)) {
      const res = await a.request(`/kind/${kind}`, { headers: { 'x-request-id': 'req-2' } });
      expect(res.status).toBe(status);
      expect(res.headers.get('retry-after')).toBeNull();
      expect(await res.json()).toEqual({
        error: { code: 'some_code', message: 'a message', requestId: 'req-2' },
      });
    }
    const limited = await a.request('/slow-down', { headers: { 'x-request-id': 'req-3' } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(await limited.json()).toEqual({
      error: { code: 'rate_limited', message: 'retry in 7 s', requestId: 'req-3', details: { limit: 5 } },
    });
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

describe('HTTP server', () => {
  const servers: HttpServer[] = [];
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await Promise.all(servers.splice(0).map((server) => server.close()));
  });

  async function serve(limits: Partial<HttpLimits>): Promise<HttpServer> {
    const server = await listen(app(), { port: 0, host: '127.0.0.1', limits });
    servers.push(server);
    return server;
  }

  /** A slowloris client: starts a request, then sends one header byte every 20 ms, never finishing. */
  async function slowClient(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    let closed = false;
    const drip = setInterval(() => {
      if (socket.writable) socket.write('a');
    }, 20);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      clearInterval(drip);
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    return { socket, closed: () => closed };
  }

  async function until(check: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(10);
    }
  }

  it('closes a connection that sends its headers a byte at a time once the headers timeout passes', async () => {
    const server = await serve({ headersTimeoutMs: 200, checkIntervalMs: 20 });
    const slow = await slowClient(server.port);
    await until(slow.closed, 'the slow connection to be closed');
    expect(slow.socket.destroyed).toBe(true);
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(res.status).toBe(200);
  });

  it('holds only a bounded number of unfinished connections per client and still serves a new request', async () => {
    const server = await serve({ headersTimeoutMs: 60_000, pendingPerClient: 10, pendingMinAgeMs: 0 });
    const slow: Array<{ socket: Socket; closed: () => boolean }> = [];
    for (let i = 0; i < 100; i++) slow.push(await slowClient(server.port));
    await until(
      () => slow.filter((s) => !s.closed()).length <= 10,
      'all but 10 slow connections to be closed',
    );
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('closes only connections that sat idle, never a burst of fresh ones from one address', async () => {
    const server = await serve({ headersTimeoutMs: 60_000, pendingPerClient: 5, pendingMinAgeMs: 60_000 });
    const fresh = await Promise.all(Array.from({ length: 40 }, () => slowClient(server.port)));
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(res.status).toBe(200);
    expect(fresh.filter((s) => s.closed())).toEqual([]);
  });

  it('does not count upgraded WebSockets as unfinished connections', async () => {
    const server = await serve({ headersTimeoutMs: 60_000, pendingPerClient: 2 });
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(String(data))));
    server.onUpgrade('/echo', (request, socket, head) =>
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request)),
    );
    const clients = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}/echo`);
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        return ws;
      }),
    );
    const echoes = await Promise.all(
      clients.map(
        (ws, i) =>
          new Promise<string>((resolve) => {
            ws.once('message', (data) => resolve(String(data)));
            ws.send(`hello ${i}`);
          }),
      ),
    );
    expect(echoes).toEqual(clients.map((_, i) => `hello ${i}`));
    for (const ws of clients) ws.close();
    await Promise.all(clients.map((ws) => new Promise((resolve) => ws.once('close', resolve))));
    wss.close();
  });
});
