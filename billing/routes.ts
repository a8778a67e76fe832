import { Hono } from 'hono';
import { z } from 'zod';
import type { Catalog } from '../config/index.js';
import { requirePermission } from '../entitlements/index.js';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { errorResponses, fileResponse, type RouteGroup } from '../platform/http/openapi.js';
import type { Prices } from './prices.js';
import type { PaymentProvider } from './provider.js';
import { reconcile, reconciliationCsv, reconciliationJson } from './reconcile.js';

export interface ReconciliationRoutesDeps {
  db: Db;
  catalog: Catalog;
  prices: Prices;
  /** Absent when Stripe is not configured: the Stripe column is null. */
  provider?: PaymentProvider;
}

const querySchema = z.object({
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, { message: 'month must look like YYYY-MM' }),
  format: z.enum(['json', 'csv']).default('json'),
});

/**
 * `GET /reports/reconciliation?month=YYYY-MM&format=json|csv`, to mount under `/admin` behind
 * operator authentication; open to the roles that read reports (admin, compliance, finance).
 */
export function reconciliationRoutes(deps: ReconciliationRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/reports/reconciliation', requirePermission('reports.read'), async (c) => {
    const parsed = querySchema.safeParse(c.req.query());
    if (!parsed.success) {
      const message = parsed.error.issues.map((issue) => issue.message).join('; ');
      throw new DomainError('invalid', 'invalid_query', message);
    }
    const { month, format } = parsed.data;
    const result = await reconcile(deps.db, {
      catalog: deps.catalog,
      prices: deps.prices,
      month,
      provider: deps.provider,
    });
    if (format === 'csv') {
      return c.body(reconciliationCsv(result), 200, { 'content-type': 'text/csv; charset=utf-8' });
    }
    return c.body(reconciliationJson(result), 200, { 'content-type': 'application/json; charset=utf-8' });
  });
  return app;
}

/** `GET /reports/reconciliation` as the OpenAPI document shows it, under `/admin`. */
export const reconciliationRouteDocs: RouteGroup = {
  mount: '/admin',
  routes: [
    {
      method: 'get',
      path: '/reports/reconciliation',
      tags: ['billing'],
      summary: 'The month’s billable usage against what Stripe was sent, per user, with the exchange fees',
      description: 'A month billing has not closed is answered with `closed: false`, not as mismatches.',
      request: { query: querySchema },
      responses: {
        200: fileResponse(
          ['application/json; charset=utf-8', 'text/csv; charset=utf-8'],
          'The reconciliation',
        ),
        ...errorResponses(400, 401, 403),
      },
    },
  ],
};
