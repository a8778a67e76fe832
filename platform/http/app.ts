import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Actor } from '../actor.js';
import type { HealthChecks } from '../health.js';
import type { Logger } from '../logger.js';
import type { Registry } from '../metrics.js';
import { ApiError, errorBody } from './errors.js';

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
    c.json(
      errorBody(
        new ApiError(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`),
        c.get('requestId'),
      ),
      404,
    ),
  );

  app.onError((error, c) => {
    const requestId = c.get('requestId') ?? randomUUID();
    if (error instanceof ApiError) return c.json(errorBody(error, requestId), error.status, error.headers);
    if (error instanceof HTTPException) {
      const code = error.status === 413 ? 'payload_too_large' : 'http_error';
      const message = error.status === 413 ? 'request body is too large' : error.message || 'request refused';
      return c.json(errorBody(new ApiError(error.status, code, message), requestId), error.status);
    }
    logger.error({ err: error, requestId, path: c.req.path }, 'unhandled error in HTTP handler');
    return c.json(
      errorBody(new ApiError(500, 'internal', 'internal error; quote the request id'), requestId),
      500,
    );
  });

  return app;
}
