import * as crypto from 'node:crypto';
import { createHash, randomBytes } from 'node:crypto';

/** User API tokens (`mdu_…`) and operator tokens (`mdo_…`): the prefix says what a leaked one opens. */
export const USER_TOKEN_PREFIX = 'mdu_';
export const OPERATOR_TOKEN_PREFIX = 'mdo_';

/**
 * What a user token is issued for: a person viewing a display (`display`, the default), or an
 * application using the data without one (`non_display`), whose use is reported apart.
 */
export const TOKEN_USAGES = ['display', 'non_display'] as const;
export type TokenUsage = (typeof TOKEN_USAGES)[number];

/** 32 random bytes, base64url, behind the prefix. Shown once; only its hash is stored. */
export function generateToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url');
}

/**
 * SHA-256, hex. A plain hash is enough (no salt, no slow KDF): the tokens carry 256 bits of
 * randomness, and a lookup by hash is what lets the edge authenticate in microseconds.
 */
export function hashToken(token: string): string {
  // One-shot hashing (Node ≥ 20.12) is four times faster than a Hash object, on every request.
  return oneShot === undefined
    ? createHash('sha256').update(token).digest('hex')
    : oneShot('sha256', token, 'hex');
}

const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

/** Public identifier of a token, for listing and revoking it without ever showing it again. */
export function newTokenId(): string {
  return `tok_${randomBytes(9).toString('base64url')}`;
}
