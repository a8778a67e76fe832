/**
 * `/openapi.json` covers every route a running hub serves: a hub with every role is started, the
 * routes its app registered are walked, and each (method, path) must be an operation of the
 * document it serves; the document is checked for the structure OpenAPI 3.1 requires.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Hub, ROLES, startHub } from '../../app/hub.js';
import { STARTERS } from '../../app/roles.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { silentLogger } from '../../platform/logger.js';

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>;
  responses?: Record<string, { description?: string }>;
  tags?: string[];
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

const ADMIN = 'admin-token-for-the-openapi-test-0123456789';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
let hub: Hub;
let doc: Document;

beforeAll(async () => {
  const env = parseEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    MDHUB_DATA_DIR: mkdtempSync(join(tmpdir(), 'mdhub-openapi-')),
    MDHUB_ADMIN_TOKEN: ADMIN,
  });
  hub = await startHub({
    env,
    catalog: loadCatalog(),
    logger: silentLogger,
    roles: [...ROLES],
    starters: STARTERS,
  });
  const res = await fetch(`http://127.0.0.1:${hub.port}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Document;
}, 60_000);

afterAll(async () => {
  await hub?.stop();
});

/** Hono's `:name` and `:name{regex}` as OpenAPI's `{name}`. */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');
}

describe('/openapi.json', () => {
  it('documents every route the running hub serves, and the WebSocket', () => {
    const served = new Set(
      hub.ctx.app.routes
        // Middleware (app.use, and app.on for a guard) is registered under a pattern with `*`.
        .filter((route) => route.method !== 'ALL' && !route.path.includes('*'))
        .map((route) => `${route.method} ${openApiPath(route.path)}`),
    );
    expect(served.size).toBeGreaterThan(40);
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item)
          .filter((key) => METHODS.includes(key))
          .map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    expect([...served].filter((route) => !documented.has(route))).toEqual([]);
    // Nothing documented that is not served, but for the WebSocket, an upgrade outside the router.
    expect([...documented].filter((route) => !served.has(route))).toEqual(['GET /stocks']);
  });

  it('is structurally OpenAPI 3.1: every operation answers, names its path parameters, and its security exists', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('mdhub');
    const schemes = Object.keys(doc.components?.securitySchemes ?? {});
    for (const [path, item] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, operation] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(METHODS, where).toContain(method);
        expect(operation.summary, where).toBeTruthy();
        const statuses = Object.keys(operation.responses ?? {});
        expect(statuses.length, where).toBeGreaterThan(0);
        for (const status of statuses) {
          expect(status, where).toMatch(/^[1-5]\d\d$/);
          expect(operation.responses?.[status]?.description, `${where} ${status}`).toBeTruthy();
        }
        const inPath = (operation.parameters ?? []).filter((p) => p.in === 'path');
        expect(inPath.map((p) => p.name).sort(), where).toEqual([...names].sort());
        for (const parameter of inPath) expect(parameter.required, `${where} ${parameter.name}`).toBe(true);
        // Said on every route, public ones with [] (the WebSocket authenticates inside, by its auth message).
        expect(operation.security, where).toBeDefined();
        expect(operation.operationId, where).toMatch(/^[a-z]+[A-Za-z0-9]*$/);
        for (const requirement of operation.security ?? [])
          for (const name of Object.keys(requirement)) expect(schemes, where).toContain(name);
      }
    }
  });

  it('says who may call each admin route and how every other caller authenticates', () => {
    for (const [path, item] of Object.entries(doc.paths))
      for (const [method, operation] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        if (path.startsWith('/admin/')) {
          expect(operation.security, where).toEqual([{ operatorToken: [] }]);
          expect(operation.description, where).toMatch(/^Roles: /);
        }
      }
    const paths = doc.paths;
    expect(paths['/admin/reports/filings']?.post?.description).toMatch(/^Roles: admin, compliance\./);
    expect(paths['/admin/reports/filings']?.get?.description).toMatch(/^Roles: admin, compliance, finance\./);
    expect(paths['/admin/audit/pack']?.get?.description).toMatch(/^Roles: admin, compliance\./);
    expect(paths['/admin/me']?.get?.description).toBe('Roles: any operator.');
    expect(paths['/webhooks/stripe']?.post?.security).toEqual([{ stripeSignature: [] }]);
    expect(paths['/v2/last/nbbo/{sym}']?.get?.security).toEqual([{ userToken: [] }, { userApiKey: [] }]);
  });

  it('takes its parameters from the schemas the routes validate with', () => {
    const usage = doc.paths['/admin/reports/usage']?.get?.parameters ?? [];
    expect(usage.find((p) => p.name === 'month')).toMatchObject({ in: 'query', required: true });
    const format = usage.find((p) => p.name === 'format')?.schema as { enum: string[] };
    expect([...format.enum].sort()).toEqual(['csv', 'json']);
    const aggs =
      doc.paths['/v2/aggs/ticker/{sym}/range/{multiplier}/{timespan}/{from}/{to}']?.get?.parameters;
    expect(aggs?.find((p) => p.name === 'timespan')?.schema).toMatchObject({
      enum: ['second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'],
    });
    expect(aggs?.find((p) => p.name === 'limit')?.schema).toMatchObject({ minimum: 1, maximum: 50_000 });
    const tickers = doc.paths['/v3/reference/tickers']?.get?.parameters ?? [];
    expect(tickers.map((p) => p.name)).toEqual(expect.arrayContaining(['search', 'sort', 'cursor', 'limit']));
  });
});
