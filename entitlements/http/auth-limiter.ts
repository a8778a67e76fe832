/**
 * A limit on failed operator-token authentications per client address, so an operator token (and
 * `MDHUB_ADMIN_TOKEN`, which an operator may have chosen by hand) cannot be guessed at request
 * speed. Once an address has `maxFailures` failures inside `windowMs`, every operator-token
 * request from it is answered 429 with `Retry-After` until the window ends, before its token is
 * looked at, so a blocked address learns nothing more. Other addresses are not affected.
 *
 * Kept in memory, per process: each api process limits on its own, so N processes allow N times
 * the guesses (still a bounded rate). At most `maxAddresses` are remembered; past that, expired
 * entries go first, then the oldest.
 */

export interface AuthLimiterOptions {
  /** Failures an address may have inside one window (default 20). */
  maxFailures?: number;
  /** The window, ms, counted from an address's first failure in it (default 60 000). */
  windowMs?: number;
  /** Addresses remembered at once (default 10 000). */
  maxAddresses?: number;
  /** Wall clock, epoch ms (default `Date.now`). */
  now?: () => number;
}

interface Window {
  start: number;
  failures: number;
}

export class AuthFailureLimiter {
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  constructor(options: AuthLimiterOptions = {}) {
    this.#maxFailures = options.maxFailures ?? 20;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxAddresses = options.maxAddresses ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Seconds until `address` may try again, or 0 when it may now. */
  retryAfter(address: string): number {
    const window = this.#current(address);
    if (!window || window.failures < this.#maxFailures) return 0;
    return Math.max(1, Math.ceil((window.start + this.#windowMs - this.#now()) / 1000));
  }

  /** Counts one failed authentication from `address`. */
  fail(address: string): void {
    const window = this.#current(address);
    if (window) {
      window.failures++;
      return;
    }
    if (this.#windows.size >= this.#maxAddresses) this.#evict();
    this.#windows.set(address, { start: this.#now(), failures: 1 });
  }

  #current(address: string): Window | undefined {
    const window = this.#windows.get(address);
    if (window && this.#now() - window.start >= this.#windowMs) {
      this.#windows.delete(address);
      return undefined;
    }
    return window;
  }

  #evict(): void {
    const now = this.#now();
    for (const [address, window] of this.#windows) {
      if (now - window.start >= this.#windowMs) this.#windows.delete(address);
    }
    if (this.#windows.size < this.#maxAddresses) return;
    const oldest = this.#windows.keys().next();
    if (!oldest.done) this.#windows.delete(oldest.value);
  }
}
