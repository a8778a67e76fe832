import { createHash } from 'node:crypto';

/**
 * The version of the identifier scheme, so a future change of scheme can never produce an
 * identifier an earlier one already used.
 */
const SCHEME = 'v1';

/** User ids that read well inside an identifier; anything else (up to 128 characters of any text) is hashed. */
const PLAIN_USER = /^[A-Za-z0-9._-]{1,48}$/;

/**
 * The user's part of an identifier. `#` is outside the plain alphabet, so a hashed id never
 * equals a plain one; month and product are colon-free, so the whole identifier is unambiguous.
 */
function userPart(userId: string): string {
  if (PLAIN_USER.test(userId)) return userId;
  return `#${createHash('sha256').update(userId, 'utf8').digest('hex').slice(0, 32)}`;
}

/**
 * The meter event identifier (and Idempotency-Key) of one (user, product, month) charge: the same
 * on every attempt, from every process, at most 100 characters as Stripe requires.
 */
export function chargeIdentifier(month: string, userId: string, product: string): string {
  return `mdhub:${month}:${userPart(userId)}:${product}:${SCHEME}`;
}

/** The Idempotency-Key that creates a user's Stripe customer, so concurrent creations make one. */
export function customerIdempotencyKey(userId: string): string {
  return `mdhub:customer:${userPart(userId)}:${SCHEME}`;
}

/** Micro-dollars per meter unit: the Stripe price is $0.01 a unit, so a unit is a cent. */
export const MICROS_PER_UNIT = 10_000;
