import { z } from 'zod';
import type { Catalog } from '../config/index.js';
import { PERMISSIONS } from '../entitlements/index.js';
import type { Db } from '../platform/db/index.js';
import type { App } from '../platform/http/app.js';
import {
  anyObject,
  errorResponses,
  fileResponse,
  jsonResponse,
  PUBLIC,
  type RouteDoc,
  type RouteGroup,
} from '../platform/http/openapi.js';
import { assetRoutes } from './assets-route.js';
import { dailyQuery, dailyUsageRoutes } from './daily-route.js';
import { meRoutes } from './me-route.js';
import { pageRoutes } from './pages.js';

/**
 * Mounts the pages, their assets, `GET /admin/me` and `GET /admin/reports/usage/daily`. Call it
 * from the api role after `operatorAuth` is on `/admin/*`; the two admin routes also refuse a
 * request that reaches them without an operator, so a wrong order fails closed.
 */
export function mountWeb(ctx: { app: App; db: Db; catalog: Catalog }): void {
  ctx.app.route('/', pageRoutes());
  ctx.app.route('/assets', assetRoutes());
  ctx.app.route('/admin', meRoutes());
  ctx.app.route('/admin', dailyUsageRoutes({ db: ctx.db, catalog: ctx.catalog }));
}

function page(path: string, summary: string): RouteDoc {
  return {
    method: 'get',
    path,
    tags: ['pages'],
    security: PUBLIC,
    summary,
    responses: { 200: fileResponse(['text/html; charset=utf-8'], 'The page') },
  };
}

/** What `mountWeb` serves, as the OpenAPI document shows it. */
export const webRouteDocs: readonly RouteGroup[] = [
  {
    routes: [
      page('/', 'The start page: links to the console, the quote board, this document and the health routes'),
      page('/app', 'The quote board (signed in with a user token)'),
      page('/console', 'The operator console (signed in with an operator token)'),
      {
        method: 'get',
        path: '/assets/{name}',
        tags: ['pages'],
        security: PUBLIC,
        summary: 'The pages’ modules and style sheet (no-cache, with an ETag)',
        request: { params: z.object({ name: z.string().describe('board.js, console.js, style.css, …') }) },
        responses: {
          200: fileResponse(['text/javascript; charset=utf-8', 'text/css; charset=utf-8'], 'The asset'),
          304: { description: 'Not modified (If-None-Match matched)' },
          ...errorResponses(404),
        },
      },
    ],
  },
  {
    mount: '/admin',
    routes: [
      {
        method: 'get',
        path: '/me',
        tags: ['operators'],
        summary: 'Who the operator token belongs to and what it may do (the console shows only that)',
        responses: {
          200: jsonResponse(
            z.object({
              id: z.string(),
              role: z.string(),
              permissions: z.array(z.enum(Object.keys(PERMISSIONS) as [string, ...string[]])),
            }),
            'The operator',
          ),
          ...errorResponses(401),
        },
      },
      {
        method: 'get',
        path: '/reports/usage/daily',
        tags: ['reports'],
        summary:
          'Real-time subscribers per product and UTC day of a month (the console’s chart); files nothing',
        request: { query: dailyQuery },
        responses: { 200: jsonResponse(anyObject, 'Per product, per day'), ...errorResponses(400, 401, 403) },
      },
    ],
  },
];
