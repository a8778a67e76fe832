import { Hono } from 'hono';
import { z } from 'zod';
import { describeIssues } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import type { Queryable } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { MONTH_PATTERN } from './month.js';
import { CONTENT_TYPES, REPORT_FORMATS } from './report-format.js';
import { readUnusedEntitlements } from './unused.js';
import { formatUnused } from './unused-format.js';

export interface UnusedRoutesDeps {
  db: Queryable;
  catalog: Catalog;
}

/** `GET /reports/unused` query parameters. */
export const unusedQuerySchema = z.strictObject({
  month: z
    .string({ error: 'is required, written YYYY-MM' })
    .regex(MONTH_PATTERN, { message: 'must be written YYYY-MM' }),
  format: z.enum(REPORT_FORMATS, { error: 'must be json or csv' }).default('json'),
});

/**
 * `GET /reports/unused?month=YYYY-MM&format=json|csv`, to mount under `/admin` behind operator
 * authentication (roles admin, compliance, finance, as every report). It reads only and files
 * nothing: no audit record.
 */
export function unusedRoutes(deps: UnusedRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/reports/unused', async (c) => {
    const parsed = unusedQuerySchema.safeParse(c.req.query());
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        param: issue.path.join('.'),
        message: issue.message,
      }));
      throw new DomainError('invalid', 'invalid_query', describeIssues(parsed.error), { details: issues });
    }
    const { month, format } = parsed.data;
    const report = await readUnusedEntitlements(deps.db, deps.catalog, month);
    return c.body(formatUnused(report, format), 200, { 'content-type': CONTENT_TYPES[format] });
  });
  return app;
}
