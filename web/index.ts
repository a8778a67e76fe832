/**
 * The web pages: the quote board (`/app`) for users and the console (`/console`) for operators,
 * rendered on the server with Hono's JSX, their browser modules served from `/assets`, and the
 * two small admin routes the console needs. docs/web.md describes them.
 */
export { type DailyUsageRoutesDeps, dailyUsageRoutes } from './daily-route.js';
export { type Me, meRoutes } from './me-route.js';
export { mountWeb, webRouteDocs } from './mount.js';
