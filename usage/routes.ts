import { Hono } from 'hono';
import { z } from 'zod';
import { describeIssues } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { errorResponses, fileResponse, type RouteGroup } from '../platform/http/openapi.js';
import { generateUsageReport, REPORT_ACTOR } from './generate.js';
import { generateLicensorFile } from './licensor-generate.js';
import { MONTH_PATTERN } from './month.js';
import { REPORT_CONTENT_TYPES, REPORT_FORMATS } from './report-format.js';
import { unusedQuerySchema, unusedRoutes } from './unused-routes.js';

export interface ReportRoutesDeps {
  db: Db;
  catalog: Catalog;
}

/** `GET /reports/usage` query parameters; unknown keys are refused so a typo is not a silent default. */
const usageQuerySchema = z.strictObject({
  month: z
    .string({ error: 'is required, written YYYY-MM' })
    .regex(MONTH_PATTERN, { message: 'must be written YYYY-MM' }),
  format: z.enum(REPORT_FORMATS, { error: 'must be json or csv' }).default('json'),
  detail: z.enum(['0', '1'], { error: 'must be 0 or 1' }).default('0'),
  licensor: z.string().max(64).optional(),
});

/**
 * `GET /reports/usage?month=YYYY-MM&format=json|csv&detail=0|1[&licensor=L]`, to be mounted under
 * `/admin` behind operator authentication (roles admin, compliance, finance). Every call generates
 * the report afresh and records its SHA-256 in the audit log under the calling operator; the hash
 * is also sent as `x-report-sha256`, and that record's sequence as `x-audit-seq`, so the file
 * received can be matched to its audit record. With `licensor`, the file is that licensor's
 * summary (or with `detail=1` its detail file), refused with 422 `licensor_file_rejected` when the
 * licensor would reject it. `GET /reports/unused` is mounted beside it.
 */
export function reportRoutes(deps: ReportRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/reports/usage', async (c) => {
    const parsed = usageQuerySchema.safeParse(c.req.query());
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        param: issue.path.join('.'),
        message: issue.message,
      }));
      throw new DomainError('invalid', 'invalid_query', describeIssues(parsed.error), { details: issues });
    }
    const { month, format, detail, licensor } = parsed.data;
    const options = { format, detail: detail === '1', actor: c.get('actor') ?? REPORT_ACTOR };
    if (licensor !== undefined && !deps.catalog.licensors.has(licensor)) {
      const known = [...deps.catalog.licensors.keys()].join(', ');
      const message = `licensor must be one of ${known}`;
      throw new DomainError('invalid', 'invalid_query', message, {
        details: [{ param: 'licensor', message }],
      });
    }
    const generated =
      licensor === undefined
        ? await generateUsageReport(deps.db, deps.catalog, month, options)
        : await generateLicensorFile(deps.db, deps.catalog, month, licensor, options);
    return c.body(generated.body, 200, {
      'content-type': generated.contentType,
      'x-report-sha256': generated.sha256,
      'x-audit-seq': String(generated.auditSeq),
    });
  });

  app.route('/', unusedRoutes(deps));
  return app;
}

/** `GET /reports/usage` and `GET /reports/unused` as the OpenAPI document shows them, under `/admin`. */
export const reportRouteDocs: RouteGroup = {
  mount: '/admin',
  routes: [
    {
      method: 'get',
      path: '/reports/usage',
      tags: ['reports'],
      summary:
        'The month’s usage report (summary, or detail with detail=1; a licensor’s own file with licensor)',
      description:
        'Generated afresh on every call; its SHA-256 is recorded in the audit log under the calling operator. docs/usage-reports.md describes the rows.',
      request: { query: usageQuerySchema },
      responses: {
        200: fileResponse(REPORT_CONTENT_TYPES, 'The report, in the format asked for', {
          'x-report-sha256': 'SHA-256 of the body, as recorded in the audit log',
          'x-audit-seq': 'Sequence of that audit record',
        }),
        ...errorResponses(400, 401, 403, [
          422,
          'The licensor would reject this file (licensor_file_rejected)',
        ]),
      },
    },
    {
      method: 'get',
      path: '/reports/unused',
      tags: ['reports'],
      summary: 'Real-time grants nobody used in the month (candidates to revoke); reads only, files nothing',
      request: { query: unusedQuerySchema },
      responses: {
        200: fileResponse(REPORT_CONTENT_TYPES, 'The unused entitlements, in the format asked for'),
        ...errorResponses(400, 401, 403),
      },
    },
  ],
};
