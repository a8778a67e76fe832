/**
 * The failures a verb reports; the HTTP layer maps each kind to one status (404, 409, 400, 403)
 * and keeps the machine `code` and the message.
 */
export abstract class EntitlementError extends Error {
  abstract readonly kind: 'not_found' | 'conflict' | 'invalid' | 'forbidden';

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class NotFoundError extends EntitlementError {
  override name = 'NotFoundError';
  readonly kind = 'not_found';
}

export class ConflictError extends EntitlementError {
  override name = 'ConflictError';
  readonly kind = 'conflict';
}

export class InvalidInputError extends EntitlementError {
  override name = 'InvalidInputError';
  readonly kind = 'invalid';
}

export class ForbiddenError extends EntitlementError {
  override name = 'ForbiddenError';
  readonly kind = 'forbidden';
}

export function unknownUser(userId: string): NotFoundError {
  return new NotFoundError('unknown_user', `no user with id ${JSON.stringify(userId)}`);
}

export function unknownProduct(product: string): NotFoundError {
  return new NotFoundError('unknown_product', `no product ${JSON.stringify(product)} in the catalog`);
}

export function accountClosed(userId: string): ConflictError {
  return new ConflictError('account_closed', `the account ${JSON.stringify(userId)} is closed`);
}
