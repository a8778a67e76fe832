/**
 * Token buckets: a client may send `burst` messages at once and `rate` a second on average.
 * Kept as plain numbers on their owner (a session, an address), refilled lazily when used.
 */

export interface Bucket {
  tokens: number;
  at: number;
}

/** Takes one token if there is one; refills first by the time elapsed since the last call. */
export function take(bucket: Bucket, rate: number, burst: number, now: number): boolean {
  refill(bucket, rate, burst, now);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

function refill(bucket: Bucket, rate: number, burst: number, now: number): void {
  if (now > bucket.at) {
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
  }
}

/** How much of a presented token keys its failed attempts, with the client address. */
const TOKEN_PREFIX_CHARS = 8;

/**
 * The failed-authentication key: the client address and the first characters of the token
 * presented, so one client's bad guesses neither lock out a valid token presented from elsewhere
 * nor, from behind a shared proxy address, everyone's.
 */
export function authKey(address: string, token: string | undefined): string {
  return `${address} ${(token ?? '').slice(0, TOKEN_PREFIX_CHARS)}`;
}

/**
 * One bucket per key: a client address and token prefix for failed authentication attempts
 * (`allows`/`spend`), a user token for REST requests (`take`). Full buckets carry no information
 * and are forgotten, so the map holds only keys that spent tokens recently.
 */
export class KeyedLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();
  #sweptAt = 0;

  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst;
  }

  /** Whether `key` may try now (it has a token left). */
  allows(key: string, now: number): boolean {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) return true;
    refill(bucket, this.#rate, this.#burst, now);
    return bucket.tokens >= 1;
  }

  /** Spends one of `key`'s tokens (a failed attempt). */
  spend(key: string, now: number): void {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    }
    take(bucket, this.#rate, this.#burst, now);
    this.#sweep(now);
  }

  /**
   * Takes one of `key`'s tokens for a request (a per-token request rate): 0 when there was one,
   * otherwise the milliseconds until there is.
   */
  take(key: string, now: number): number {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(key, bucket);
    }
    const taken = take(bucket, this.#rate, this.#burst, now);
    this.#sweep(now);
    return taken ? 0 : Math.ceil(((1 - bucket.tokens) / this.#rate) * 1000);
  }

  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    if (now - this.#sweptAt < 60_000) return;
    this.#sweptAt = now;
    for (const [key, bucket] of this.#buckets) {
      refill(bucket, this.#rate, this.#burst, now);
      if (bucket.tokens >= this.#burst) this.#buckets.delete(key);
    }
  }
}
