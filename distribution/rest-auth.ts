/**
 * The first steps of every user REST route, in one place: the user token (`Authorization: Bearer`
 * or `?apiKey=`, as Polygon's REST API takes it), the failed-authentication limit per client
 * address and token prefix, and the request rate per token. A route calls `authenticateRest`
 * before it reads or meters anything, so a refused request costs nothing and counts nowhere.
 */
import type { Context } from 'hono';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { type ClientAddresses, requestClientAddress } from '../platform/http/client-address.js';
import type { EntitlementView, Principal } from './entitlement-view.js';
import type { EdgeStats } from './metrics.js';
import { authKey, type KeyedLimiter } from './rate-limit.js';

export interface RestAuthDeps {
  view: EntitlementView;
  stats: EdgeStats;
  authLimiter: KeyedLimiter;
  /** Requests per user token. */
  requestLimiter: KeyedLimiter;
  /** Who the client is behind a trusted proxy, for the failed-authentication limit. */
  addresses: ClientAddresses;
}

export interface RestCaller {
  principal: Principal;
  /** The client's address (behind trusted proxies, the one they name). */
  address: string;
}

/** The user token a request carries, if any. */
export function restToken(c: Context<AppEnv>): string | undefined {
  const header = c.req.header('authorization');
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  return c.req.query('apiKey');
}

/**
 * The user behind the request, or a DomainError: 429 `too_many_attempts` after too many failed
 * attempts from the address, 401 `unauthorized` for a missing or unknown token, 429 `rate_limited`
 * (with `retryAfterS`) past the token's request rate.
 */
export function authenticateRest(c: Context<AppEnv>, deps: RestAuthDeps, now: number): RestCaller {
  const token = restToken(c);
  const address = requestClientAddress(c, deps.addresses);
  const key = authKey(address, token);
  if (!deps.authLimiter.allows(key, now)) {
    deps.stats.refuse('auth_rate_limited');
    throw new DomainError(
      'rate_limited',
      'too_many_attempts',
      'Too many failed authentication attempts; wait a minute and retry.',
    );
  }
  const principal = token === undefined ? undefined : deps.view.authenticate(token);
  if (token === undefined || principal === undefined) {
    deps.authLimiter.spend(key, now);
    deps.stats.refuse('auth_failed');
    throw new DomainError(
      'unauthenticated',
      'unauthorized',
      'A valid API token is required: send it as "Authorization: Bearer <token>" or ?apiKey=<token>.',
    );
  }
  const waitMs = deps.requestLimiter.take(token, now);
  if (waitMs > 0) {
    deps.stats.refuse('rest_rate_limited');
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new DomainError(
      'rate_limited',
      'rate_limited',
      `Too many requests with this token; retry in ${seconds} s.`,
      {
        retryAfterS: seconds,
      },
    );
  }
  return { principal, address };
}
