import { randomUUID } from 'node:crypto';
import { type Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Actor } from '../actor.js';
import { isDatabaseUnavailable } from '../db/index.js';
import { DomainError } from '../errors.js';
import type { HealthChecks } from '../health.js';
import type { Logger } from '../logger.js';
import type { Registry } from '../metrics.js';
import { errorBody, errorHeaders, HTTP_STATUS } from './errors.js';

/** Variables every request carries through the middleware chain. */
export interface AppEnv {
  Variables: {
    requestId: string;
    /** Set by the authentication middleware of the route group (operator or user token). */
    actor?: Actor;
  };
}

export type App = Hono<AppEnv>;

export interface CreateAppOptions {
  logger: Logger;
  metrics: Registry;
  health: HealthChecks;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** What a request that needed the database is answered while it cannot be reached: retry, not a bug. */
const DATABASE_DOWN = new DomainError(
  'unavailable',
  'database_unavailable',
  'the database (DATABASE_URL) cannot be reached; retry shortly',
  { retryAfterS: 1 },
);

/** What a bug is answered with: its own message could leak internals, so it never leaves. */
const UNEXPECTED = new DomainError('internal', 'internal', 'internal error; quote the request id');

function answer(c: Context<AppEnv>, error: DomainError, requestId: string): Response {
  return c.json(errorBody(error, requestId), HTTP_STATUS[error.kind], errorHeaders(error));
}

/**
 * The hub's HTTP surface: health, readiness and metrics on every process, whatever its roles;
 * modules mount their own routes on the returned app. Every error leaves as the one envelope
 * `{"error":{"code","message","requestId"}}`.
 */
export function createApp({ logger, metrics, health }: CreateAppOptions): App {
  const app = new Hono<AppEnv>();

  app.use(async (c, next) => {
    const given = c.req.header('x-request-id');
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    c.header('x-request-id', requestId);
    await next();
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const result = await health.run();
    return c.json(
      { status: result.ok ? 'ready' : 'not_ready', checks: result.checks },
      result.ok ? 200 : 503,
    );
  });

  app.get('/metrics', async (c) => {
    const body = await metrics.metrics();
    return c.body(body, 200, { 'content-type': metrics.contentType });
  });

  app.notFound((c) =>
    answer(
      c,
      new DomainError('not_found', 'not_found', `no route for ${c.req.method} ${c.req.path}`),
      c.get('requestId'),
    ),
  );

  app.onError((error, c) => {
    const requestId = c.get('requestId') ?? randomUUID();
    if (error instanceof DomainError) return answer(c, error, requestId);
    // Hono's own refusals (a body over a limit, a malformed body its validators reject) carry
    // any status, not a kind, so they are answered with theirs.
    if (error instanceof HTTPException) {
      const code = error.status === 413 ? 'payload_too_large' : 'http_error';
      const message = error.status === 413 ? 'request body is too large' : error.message || 'request refused';
      return c.json(errorBody({ code, message }, requestId), error.status);
    }
    if (isDatabaseUnavailable(error)) {
      logger.warn({ err: error, requestId, path: c.req.path }, 'the database is unreachable: answered 503');
      return answer(c, DATABASE_DOWN, requestId);
    }
    logger.error({ err: error, requestId, path: c.req.path }, 'unhandled error in HTTP handler');
    return answer(c, UNEXPECTED, requestId);
  });

  return app;
}
