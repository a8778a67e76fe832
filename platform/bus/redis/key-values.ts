/** Key/values on Redis: hash `${prefix}:kv:{key}` holds the fields of one entry. */
import type { KeyValues } from '../types.js';
import type { Redis } from './connection.js';

export class RedisKeyValues implements KeyValues {
  readonly #main: Redis;
  readonly #prefix: string;

  constructor(main: Redis, prefix: string) {
    this.#main = main;
    this.#prefix = prefix;
  }

  async setFields(key: string, fields: ReadonlyMap<string, Buffer | string>): Promise<void> {
    if (fields.size === 0) return;
    const hash = this.#hash(key);
    const args: Array<string | Buffer> = ['HSET', hash];
    for (const [field, value] of fields) args.push(field, value);
    await this.#main.send(hash, args);
  }

  getField(key: string, field: string): Promise<Buffer | null> {
    const hash = this.#hash(key);
    return this.#main.send<Buffer | null>(hash, ['HGET', hash, field], { buffers: true });
  }

  async getFields(key: string, fields: readonly string[]): Promise<Array<Buffer | null>> {
    if (fields.length === 0) return [];
    const hash = this.#hash(key);
    return this.#main.send<Array<Buffer | null>>(hash, ['HMGET', hash, ...fields], { buffers: true });
  }

  #hash(key: string): string {
    return `${this.#prefix}:kv:{${key}}`;
  }
}
