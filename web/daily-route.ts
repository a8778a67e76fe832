import { Hono } from 'hono';
import { z } from 'zod';
import type { Catalog } from '../config/index.js';
import { requirePermission } from '../entitlements/index.js';
import type { Queryable } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { parseUsageMonth, readDailyUsage } from '../usage/index.js';

export interface DailyUsageRoutesDeps {
  db: Queryable;
  catalog: Catalog;
}

/** Unknown keys are refused so a typo is not a silent default, as on the report route. */
export const dailyQuery = z.strictObject({
  month: z.string({ error: 'month is required, written YYYY-MM' }),
});

/**
 * `GET /reports/usage/daily?month=YYYY-MM`, to mount under `/admin` behind operator
 * authentication: real-time subscribers per product and UTC day, for the console's chart. It
 * reads the ledger only; unlike the usage report it files nothing, so it leaves no audit record.
 */
export function dailyUsageRoutes(deps: DailyUsageRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/reports/usage/daily', requirePermission('reports.read'), async (c) => {
    const parsed = dailyQuery.safeParse(c.req.query());
    const month = parsed.success ? parseUsageMonth(parsed.data.month) : undefined;
    if (month === undefined) {
      throw new DomainError(
        'invalid',
        'invalid_query',
        'month must be written YYYY-MM, and is the only parameter',
      );
    }
    return c.json(await readDailyUsage(deps.db, deps.catalog, month));
  });
  return app;
}
