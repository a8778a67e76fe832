/**
 * What went wrong, in the words every transport understands. A module says which of these its
 * failure is; each transport answers it in its own terms, once: HTTP with a status
 * (`http/errors.ts`), the CLI with its one line and exit status (`app/cli/index.ts`).
 * - `invalid`: the request itself is malformed or breaks a rule of its form;
 * - `unauthenticated`: no credentials, or ones that match nobody;
 * - `forbidden`: the caller is known but may not do this;
 * - `not_found`: what the request names does not exist;
 * - `conflict`: the request is well formed but clashes with the current state;
 * - `too_large`: the request body exceeds what is accepted;
 * - `unprocessable`: understood, but the data needed to answer it is not there;
 * - `rate_limited`: too many requests; `retryAfterS` says when to try again, if known;
 * - `internal`: our fault, with a code that says which part failed;
 * - `unavailable`: a dependency or a setting the answer needs is missing for now.
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'unsupported_media_type'
  | 'unprocessable'
  | 'rate_limited'
  | 'internal'
  | 'unavailable';

export interface DomainErrorOptions {
  /** Structured detail a client can act on, such as one entry per invalid field. Default: none. */
  details?: unknown;
  /** Whole seconds after which trying again may succeed (HTTP `Retry-After`). Default: none. */
  retryAfterS?: number;
}

/**
 * The one error modules throw for a failure someone outside can act on: its `kind` decides how a
 * transport answers, `code` is the stable machine word clients match on, and `message` says it to
 * a person. Anything else thrown is a bug, and transports answer it without its details.
 */
export class DomainError extends Error {
  override name = 'DomainError';
  readonly details?: unknown;
  readonly retryAfterS?: number;

  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    options: DomainErrorOptions = {},
  ) {
    super(message);
    if (options.details !== undefined) this.details = options.details;
    if (options.retryAfterS !== undefined) this.retryAfterS = options.retryAfterS;
  }
}
