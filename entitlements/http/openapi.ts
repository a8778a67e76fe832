import type { RouteGroup } from '../../platform/http/openapi.js';
import { ROUTES } from './contract.js';

/**
 * The entitlements admin API's routes as the OpenAPI document shows them, under `/admin` where
 * `entitlementRoutes` is mounted: users, categories, subscriber agreements, real-time grants,
 * user tokens and operators, from the zod schemas the routes validate with.
 */
export function entitlementRouteDocs(): RouteGroup {
  return { mount: '/admin', routes: ROUTES.map(({ middleware: _guard, ...route }) => route) };
}
