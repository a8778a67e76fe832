import { timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { OperatorRole } from '../../platform/actor.js';
import type { Queryable } from '../../platform/db/index.js';
import { DomainError } from '../../platform/errors.js';
import type { AppEnv } from '../../platform/http/app.js';
import { ClientAddresses, requestClientAddress } from '../../platform/http/client-address.js';
import { type Permission, rolesFor } from '../permissions.js';
import { hashToken } from '../tokens.js';
import { AuthFailureLimiter, type AuthLimiterOptions } from './auth-limiter.js';

const BEARER = /^Bearer ([\x21-\x7e]{1,512})$/i;

/** Why the request is not authenticated, in words that tell a missing token from a wrong one. */
const UNAUTHORIZED = {
  missing: 'an operator token is required: Authorization: Bearer <token>',
  malformed: 'the Authorization header must be Bearer <token> (1-512 printable characters)',
  unknown: 'this operator token is unknown or revoked',
} as const;

function unauthorized(why: keyof typeof UNAUTHORIZED = 'missing'): DomainError {
  return new DomainError('unauthenticated', 'unauthorized', UNAUTHORIZED[why]);
}

export interface OperatorAuthOptions {
  /** The failed-authentication limit per client address (`auth-limiter.ts` has the defaults). */
  limiter?: AuthFailureLimiter | AuthLimiterOptions;
  /** Who the client is behind a trusted proxy (`MDHUB_TRUSTED_PROXIES`); default: the socket's peer. */
  addresses?: ClientAddresses;
}

/**
 * Authenticates an operator by bearer token: the token is hashed and looked up, revoked tokens
 * never match, and `c.var.actor` becomes the operator. Anything else is a 401 envelope, counted
 * against the client's address: past the limit the address gets 429 `too_many_failures` with
 * `Retry-After` and its tokens are not checked. The token never reaches a log line or an error.
 */
export function operatorAuth(db: Queryable, options: OperatorAuthOptions = {}): MiddlewareHandler<AppEnv> {
  const limiter =
    options.limiter instanceof AuthFailureLimiter ? options.limiter : new AuthFailureLimiter(options.limiter);
  const addresses = options.addresses ?? new ClientAddresses();
  return async (c, next) => {
    const address = requestClientAddress(c, addresses);
    const wait = limiter.retryAfter(address);
    if (wait > 0) {
      throw new DomainError(
        'rate_limited',
        'too_many_failures',
        `too many failed operator authentications from this address; try again in ${wait} s`,
        { retryAfterS: wait },
      );
    }
    const header = c.req.header('authorization');
    const match = BEARER.exec(header ?? '');
    // No bearer token is no guess: only a token that could have matched counts as a failure.
    if (!match) throw unauthorized(header === undefined || header === '' ? 'missing' : 'malformed');
    const hash = hashToken(match[1]!);
    const { rows } = await db.query<{ id: string; role: OperatorRole; token_hash: string }>(
      'select id, role, token_hash from operators where token_hash = $1 and revoked_at is null',
      [hash],
    );
    const operator = rows[0];
    // The index lookup already matched; the constant-time comparison keeps it so should the lookup change.
    if (!operator || !timingSafeEqual(Buffer.from(operator.token_hash, 'hex'), Buffer.from(hash, 'hex'))) {
      limiter.fail(address);
      throw unauthorized('unknown');
    }
    c.set('actor', { type: 'operator', id: operator.id, role: operator.role });
    await next();
  };
}

/** Lets the request through only for an authenticated operator holding one of `roles`. */
export function requireRole(...roles: OperatorRole[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const actor = c.get('actor');
    if (!actor) throw unauthorized();
    if (actor.type !== 'operator' || !roles.includes(actor.role)) {
      throw new DomainError('forbidden', 'forbidden', `this needs one of the roles: ${roles.join(', ')}`);
    }
    await next();
  };
}

/** `requireRole` for the roles `permissions.ts` gives a permission. */
export function requirePermission(permission: Permission): MiddlewareHandler<AppEnv> {
  return requireRole(...rolesFor(permission));
}
