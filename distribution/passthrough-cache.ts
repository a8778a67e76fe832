/**
 * The pass-through routes' answer cache: least recently used first out, bounded by entries and by
 * bytes, each entry with its own expiry (a route's TTL). One per edge, in memory: vendor answers
 * for history and reference data are the same for every user, so one fetch serves many.
 */

interface Entry {
  body: string;
  status: number;
  expiresAt: number;
  bytes: number;
}

export interface CachedAnswer {
  body: string;
  status: number;
}

export interface PassthroughCacheOptions {
  /** Entries held at most (default 2 000). */
  maxEntries?: number;
  /** Bytes of answers held at most (default 64 MiB); an answer over an eighth of it is not kept. */
  maxBytes?: number;
}

/** Bytes a JavaScript string of `length` code units may take, for the budget. */
const bytesOf = (body: string, key: string) => (body.length + key.length) * 2 + 96;

export class PassthroughCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Insertion order is recency order: a hit moves its entry to the end. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(options: PassthroughCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 2_000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The answer stored for `key` if it has not expired at `now`. */
  get(key: string, now: number): CachedAnswer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) {
      this.#bytes -= entry.bytes;
      return undefined;
    }
    this.#entries.set(key, entry);
    return { body: entry.body, status: entry.status };
  }

  /** Keeps an answer until `now + ttlMs`, evicting the least recently used to stay in bounds. */
  set(key: string, answer: CachedAnswer, ttlMs: number, now: number): void {
    const bytes = bytesOf(answer.body, key);
    const old = this.#entries.get(key);
    if (old !== undefined) {
      this.#entries.delete(key);
      this.#bytes -= old.bytes;
    }
    if (ttlMs <= 0 || bytes > this.maxBytes / 8) return;
    this.#entries.set(key, { ...answer, expiresAt: now + ttlMs, bytes });
    this.#bytes += bytes;
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.maxEntries && this.#bytes <= this.maxBytes) break;
      this.#entries.delete(oldest);
      this.#bytes -= entry.bytes;
    }
  }
}
