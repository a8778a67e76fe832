import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { describeIssues } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import {
  anyObject,
  errorResponses,
  fileResponse,
  jsonBody as jsonBodyDoc,
  jsonResponse,
  type RouteGroup,
} from '../platform/http/openapi.js';
import { amendFiling, MAX_REASON } from './amend.js';
import { diffMonth } from './drift.js';
import type { DriftWatch } from './drift-watch.js';
import { selectDelta } from './filing-store.js';
import { fileReport, listFilings, type ReportContext, readFiledFile } from './filings.js';
import { MONTH_PATTERN } from './month.js';
import { CONTENT_TYPES, REPORT_CONTENT_TYPES, REPORT_FORMATS } from './report-format.js';

export interface FilingRoutesDeps {
  db: Db;
  catalog: Catalog;
  /** The api role's drift watch, which `GET /reports/drift` asks to check now. */
  drift: DriftWatch;
  /** The clock a month is judged over by (default `Date.now`). */
  now?: () => number;
}

/** A filing or amendment request is a few fields; anything larger is not one. */
const BODY_LIMIT_BYTES = 16 * 1024;

const month = z
  .string({ error: 'is required, written YYYY-MM' })
  .regex(MONTH_PATTERN, { message: 'must be written YYYY-MM' });
const licensor = z.string({ error: 'must be a licensor id' }).min(1).max(64);

const fileBody = z.strictObject({ month, licensor: licensor.nullable().optional() });
const amendBody = z.strictObject({
  reason: z.string({ error: 'is required: why the filing is amended' }).trim().min(1).max(MAX_REASON),
});
const listQuery = z.strictObject({ month: month.optional() });
const diffQuery = z.strictObject({ month, licensor: licensor.optional() });
const fileQuery = z.strictObject({
  format: z.enum(REPORT_FORMATS, { error: 'must be json or csv' }).default('json'),
  detail: z.enum(['0', '1'], { error: 'must be 0 or 1' }).default('0'),
});

function parse<T extends z.ZodType>(schema: T, value: unknown, code: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues.map((issue) => ({
    param: issue.path.join('.'),
    message: issue.message,
  }));
  throw new DomainError('invalid', code, describeIssues(parsed.error), { details });
}

async function jsonBody(c: Context<AppEnv>): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw new DomainError('invalid', 'invalid_request', 'the body must be a JSON object');
  }
}

/** A filing's id in the path: anything else names no filing (404, not 400). */
const filingParams = z.object({ id: z.string().regex(/^\d{1,15}$/) });

function filingId(c: Context<AppEnv>): number {
  const text = c.req.param('id') ?? '';
  if (!filingParams.safeParse({ id: text }).success)
    throw new DomainError('not_found', 'unknown_filing', `there is no filing ${text}`);
  return Number(text);
}

/**
 * Filings and amendments, to be mounted under `/admin` behind operator authentication: reading
 * needs `reports.read` (admin, compliance, finance), filing and amending `reports.file` (admin,
 * compliance; the verbs check it too). docs/usage-reports.md, "Filings", describes each route.
 */
export function filingRoutes(deps: FilingRoutesDeps): Hono<AppEnv> {
  const { db, catalog } = deps;
  const now = deps.now ?? Date.now;
  const app = new Hono<AppEnv>();
  const limit = bodyLimit({
    maxSize: BODY_LIMIT_BYTES,
    onError: () => {
      throw new DomainError(
        'too_large',
        'payload_too_large',
        `request body is larger than ${BODY_LIMIT_BYTES} bytes`,
      );
    },
  });

  function context(c: Context<AppEnv>, tx: ReportContext['tx']): ReportContext {
    const actor = c.get('actor');
    if (!actor) throw new DomainError('unauthenticated', 'unauthorized', 'an operator token is required');
    return { actor, tx, at: now(), catalog };
  }

  app.post('/reports/filings', limit, async (c) => {
    const input = parse(fileBody, await jsonBody(c), 'invalid_request');
    const filing = await db.transaction((tx) => fileReport({ ctx: context(c, tx), input }));
    return c.json(filing, 201);
  });

  app.get('/reports/filings', async (c) => {
    const query = parse(listQuery, c.req.query(), 'invalid_query');
    return c.json(await listFilings(db, catalog, { ...query, at: now() }));
  });

  app.get('/reports/filings/:id', async (c) => {
    const id = filingId(c);
    const { format, detail } = parse(fileQuery, c.req.query(), 'invalid_query');
    const { body, sha256 } = await readFiledFile(db, id, format, detail === '1');
    return c.body(new Uint8Array(body), 200, {
      'content-type': CONTENT_TYPES[format],
      'x-filing-id': String(id),
      'x-report-sha256': sha256,
    });
  });

  app.get('/reports/filings/:id/delta', async (c) => {
    const id = filingId(c);
    const delta = await selectDelta(db, id);
    if (delta === undefined) throw new DomainError('not_found', 'unknown_filing', `there is no filing ${id}`);
    if (delta === null)
      throw new DomainError(
        'not_found',
        'no_delta',
        `filing ${id} is a first filing; only an amendment has a delta`,
      );
    return c.body(delta, 200, { 'content-type': CONTENT_TYPES.json });
  });

  app.post('/reports/filings/:id/amendments', limit, async (c) => {
    const id = filingId(c);
    const { reason } = parse(amendBody, await jsonBody(c), 'invalid_request');
    const amendment = await db.transaction((tx) =>
      amendFiling({ ctx: context(c, tx), input: { filingId: id, reason } }),
    );
    return c.json(amendment, 201);
  });

  app.get('/reports/diff', async (c) => {
    const query = parse(diffQuery, c.req.query(), 'invalid_query');
    return c.json(await diffMonth(db, catalog, query));
  });

  app.get('/reports/drift', async (c) => c.json(await deps.drift.refresh()));

  return app;
}

/** The filing routes as the OpenAPI document shows them, under `/admin`, from the schemas they validate with. */
export const filingRouteDocs: RouteGroup = {
  mount: '/admin',
  routes: [
    {
      method: 'post',
      path: '/reports/filings',
      tags: ['filings'],
      summary:
        'File a closed month’s report (all licensors, or one): its files are frozen, hashed and audited',
      request: { body: jsonBodyDoc(fileBody) },
      responses: {
        201: jsonResponse(anyObject, 'The filing: id, month, licensor, files and their SHA-256'),
        ...errorResponses(
          400,
          401,
          403,
          [409, 'The month is not closed, or is filed already'],
          413,
          415,
          422,
        ),
      },
    },
    {
      method: 'get',
      path: '/reports/filings',
      tags: ['filings'],
      summary: 'Filings and amendments, newest first, with each month’s drift state',
      request: { query: listQuery },
      responses: { 200: jsonResponse(anyObject, 'The filings'), ...errorResponses(400, 401, 403) },
    },
    {
      method: 'get',
      path: '/reports/filings/{id}',
      tags: ['filings'],
      summary: 'A filing’s file as filed, byte for byte (summary, or detail with detail=1)',
      request: { params: filingParams, query: fileQuery },
      responses: {
        200: fileResponse(REPORT_CONTENT_TYPES, 'The filed file', {
          'x-filing-id': 'The filing',
          'x-report-sha256': 'SHA-256 of the body, as filed',
        }),
        ...errorResponses(400, 401, 403, [404, 'There is no such filing (unknown_filing)']),
      },
    },
    {
      method: 'get',
      path: '/reports/filings/{id}/delta',
      tags: ['filings'],
      summary: 'What an amendment changed against the filing it amends',
      request: { params: filingParams },
      responses: {
        200: fileResponse([CONTENT_TYPES.json], 'The delta, as filed with the amendment'),
        ...errorResponses(401, 403, [404, 'No such filing (unknown_filing), or a first filing (no_delta)']),
      },
    },
    {
      method: 'post',
      path: '/reports/filings/{id}/amendments',
      tags: ['filings'],
      summary: 'Amend a filing: the month regenerated now, filed with its delta and the reason',
      request: { params: filingParams, body: jsonBodyDoc(amendBody) },
      responses: {
        201: jsonResponse(anyObject, 'The amendment'),
        ...errorResponses(400, 401, 403, [404, 'There is no such filing'], 409, 413, 415),
      },
    },
    {
      method: 'get',
      path: '/reports/diff',
      tags: ['filings'],
      summary: 'The live report against the month’s latest filing: rows and subscribers changed, late events',
      request: { query: diffQuery },
      responses: { 200: jsonResponse(anyObject, 'The differences'), ...errorResponses(400, 401, 403, 404) },
    },
    {
      method: 'get',
      path: '/reports/drift',
      tags: ['filings'],
      summary: 'Check every filed month for drift now (as the drift watch does periodically)',
      responses: {
        200: jsonResponse(anyObject, 'Per filed month: matches or not'),
        ...errorResponses(401, 403),
      },
    },
  ],
};
