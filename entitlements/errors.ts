import { DomainError } from '../platform/errors.js';

// The verbs' failures by kind, so a verb reads `new ConflictError(code, message)`; the transports
// see only the DomainError.

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';

  constructor(code: string, message: string) {
    super('not_found', code, message);
  }
}

export class ConflictError extends DomainError {
  override name = 'ConflictError';

  constructor(code: string, message: string) {
    super('conflict', code, message);
  }
}

export class InvalidInputError extends DomainError {
  override name = 'InvalidInputError';

  constructor(code: string, message: string) {
    super('invalid', code, message);
  }
}

export class ForbiddenError extends DomainError {
  override name = 'ForbiddenError';

  constructor(code: string, message: string) {
    super('forbidden', code, message);
  }
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
