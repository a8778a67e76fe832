import type { KeyValues } from '../types.js';

export class MemoryKeyValues implements KeyValues {
  readonly #hashes = new Map<string, Map<string, Buffer>>();

  async setFields(key: string, fields: ReadonlyMap<string, Buffer | string>): Promise<void> {
    let hash = this.#hashes.get(key);
    if (hash === undefined) {
      hash = new Map();
      this.#hashes.set(key, hash);
    }
    for (const [field, value] of fields)
      hash.set(field, typeof value === 'string' ? Buffer.from(value) : value);
  }

  async getField(key: string, field: string): Promise<Buffer | null> {
    return this.#hashes.get(key)?.get(field) ?? null;
  }

  async getFields(key: string, fields: readonly string[]): Promise<Array<Buffer | null>> {
    const hash = this.#hashes.get(key);
    return fields.map((field) => hash?.get(field) ?? null);
  }
}
