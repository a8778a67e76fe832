/** Key/values on Redis: hash `${prefix}:kv:{key}` holds the fields of one entry. */
import type { KeyValues } from '../types.js';
import { BUFFERS, type Client } from './connection.js';

export class RedisKeyValues implements KeyValues {
  readonly #main: Client;
  readonly #prefix: string;

  constructor(main: Client, prefix: string) {
    this.#main = main;
    this.#prefix = prefix;
  }

  async setFields(key: string, fields: ReadonlyMap<string, Buffer | string>): Promise<void> {
    if (fields.size === 0) return;
    const args: Array<string | Buffer> = ['HSET', `${this.#prefix}:kv:{${key}}`];
    for (const [field, value] of fields) args.push(field, value);
    await this.#main.sendCommand(args);
  }

  getField(key: string, field: string): Promise<Buffer | null> {
    return this.#main.sendCommand<Buffer | null>(['HGET', `${this.#prefix}:kv:{${key}}`, field], {
      typeMapping: BUFFERS,
    });
  }

  async getFields(key: string, fields: readonly string[]): Promise<Array<Buffer | null>> {
    if (fields.length === 0) return [];
    return this.#main.sendCommand<Array<Buffer | null>>(['HMGET', `${this.#prefix}:kv:{${key}}`, ...fields], {
      typeMapping: BUFFERS,
    });
  }
}
