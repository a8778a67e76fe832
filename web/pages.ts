import { Hono } from 'hono';
import { html } from 'hono/html';
import type { AppEnv } from '../platform/http/app.js';
import { BoardPage } from './board-page.js';
import { ConsolePage } from './console-page.js';
import { HomePage } from './home-page.js';

/**
 * Only this origin's scripts, styles and connections (the board's WebSocket is same-origin); no
 * inline script, no framing. Server-supplied data reaches the DOM through the modules alone.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

/** `GET /`, `GET /app` and `GET /console`: the pages' shells, rendered on the server. */
export function pageRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/', (c) => c.html(html`<!doctype html>${HomePage()}`, 200, SECURITY_HEADERS));
  app.get('/app', (c) => c.html(html`<!doctype html>${BoardPage()}`, 200, SECURITY_HEADERS));
  app.get('/console', (c) => c.html(html`<!doctype html>${ConsolePage()}`, 200, SECURITY_HEADERS));
  return app;
}
