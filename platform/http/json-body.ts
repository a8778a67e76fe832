/**
 * Request bodies are JSON: a body sent without `Content-Type: application/json` (curl's `-d`
 * sends `application/x-www-form-urlencoded`) gets a 415 that says what to send, instead of a
 * validation error about fields that seem to be there.
 */
import type { MiddlewareHandler } from 'hono';
import { DomainError } from '../errors.js';
import type { AppEnv } from './app.js';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

function hasBody(headers: { get(name: string): string | null }): boolean {
  const length = headers.get('content-length');
  if (length !== null) return Number(length) > 0;
  return headers.get('transfer-encoding') !== null;
}

export function requireJsonBody(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const type = c.req.header('content-type');
    if (hasBody(c.req.raw.headers) && !JSON_TYPE.test(type ?? '')) {
      throw new DomainError(
        'unsupported_media_type',
        'unsupported_media_type',
        type === undefined
          ? 'send the body as JSON with the header Content-Type: application/json'
          : `the body must be JSON, sent with Content-Type: application/json (got ${JSON.stringify(type.slice(0, 100))})`,
      );
    }
    await next();
  };
}
