import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { DomainError, ErrorKind } from '../errors.js';

/** The one place a `DomainError`'s kind becomes an HTTP status. */
export const HTTP_STATUS: Readonly<Record<ErrorKind, ContentfulStatusCode>> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
};

export interface ErrorBody {
  error: { code: string; message: string; requestId: string; details?: unknown };
}

/** The envelope `{"error":{"code","message","requestId"}}`, with `details` when there are some. */
export function errorBody(
  error: Pick<DomainError, 'code' | 'message' | 'details'>,
  requestId: string,
): ErrorBody {
  const body: ErrorBody = { error: { code: error.code, message: error.message, requestId } };
  if (error.details !== undefined) body.error.details = error.details;
  return body;
}

/** The response headers that go with `error`: `Retry-After` when it says when to try again. */
export function errorHeaders(error: DomainError): Record<string, string> | undefined {
  return error.retryAfterS === undefined ? undefined : { 'retry-after': String(error.retryAfterS) };
}
