import type { Catalog } from '../config/index.js';
import type { Db } from '../platform/db/index.js';
import type { App } from '../platform/http/app.js';
import { assetRoutes } from './assets-route.js';
import { dailyUsageRoutes } from './daily-route.js';
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
