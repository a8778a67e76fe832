/** Leases on Redis: string `${prefix}:lease:{name}` holds the holder, expiring with PX. */
import { checkTtl } from '../checks.js';
import type { Leases } from '../types.js';
import type { Redis } from './connection.js';
import { LEASE_ACQUIRE_SCRIPT, LEASE_RELEASE_SCRIPT, Script } from './scripts.js';

export class RedisLeases implements Leases {
  readonly #main: Redis;
  readonly #prefix: string;
  readonly #acquire = new Script(LEASE_ACQUIRE_SCRIPT);
  readonly #release = new Script(LEASE_RELEASE_SCRIPT);

  constructor(main: Redis, prefix: string) {
    this.#main = main;
    this.#prefix = prefix;
  }

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    checkTtl('lease', ttlMs);
    const key = `${this.#prefix}:lease:{${name}}`;
    return (await this.#acquire.run(this.#main, key, [holder, String(Math.ceil(ttlMs))])) === 1;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.#release.run(this.#main, `${this.#prefix}:lease:{${name}}`, [holder]);
  }
}
