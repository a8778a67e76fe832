/**
 * Session slots on Redis: sorted set `${prefix}:sessions:{group}`, member = slot id, score = expiry
 * (epoch ms, Redis's own clock, so edges' clocks need not agree).
 */
import { checkTtl } from '../checks.js';
import type { SessionSlots } from '../types.js';
import type { Redis } from './connection.js';
import { Script, SESSION_ACQUIRE_SCRIPT, SESSION_COUNT_SCRIPT, SESSION_HELD_SCRIPT } from './scripts.js';

export class RedisSessionSlots implements SessionSlots {
  readonly #main: Redis;
  readonly #prefix: string;
  readonly #acquire = new Script(SESSION_ACQUIRE_SCRIPT);
  readonly #count = new Script(SESSION_COUNT_SCRIPT);
  readonly #held = new Script(SESSION_HELD_SCRIPT);

  constructor(main: Redis, prefix: string) {
    this.#main = main;
    this.#prefix = prefix;
  }

  async acquire(
    group: string,
    id: string,
    limit: number,
    ttlMs: number,
  ): Promise<{ held: boolean; count: number }> {
    checkTtl('session', ttlMs);
    const reply = (await this.#acquire.run(this.#main, this.#key(group), [
      id,
      String(limit),
      String(Math.ceil(ttlMs)),
    ])) as [number, number];
    return { held: reply[0] === 1, count: reply[1] };
  }

  async release(group: string, id: string): Promise<void> {
    const key = this.#key(group);
    await this.#main.send(key, ['ZREM', key, id]);
  }

  async count(group: string): Promise<number> {
    return (await this.#count.run(this.#main, this.#key(group), [])) as number;
  }

  async held(group: string, id: string): Promise<boolean> {
    return ((await this.#held.run(this.#main, this.#key(group), [id])) as number) === 1;
  }

  #key(group: string): string {
    return `${this.#prefix}:sessions:{${group}}`;
  }
}
