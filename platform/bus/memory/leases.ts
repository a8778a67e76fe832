import { checkTtl } from '../checks.js';
import type { Leases } from '../types.js';

export class MemoryLeases implements Leases {
  readonly #leases = new Map<string, { holder: string; expiresAt: number }>();

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    checkTtl('lease', ttlMs);
    const now = Date.now();
    const lease = this.#leases.get(name);
    if (lease !== undefined && lease.holder !== holder && lease.expiresAt > now) return false;
    this.#leases.set(name, { holder, expiresAt: now + ttlMs });
    return true;
  }

  async release(name: string, holder: string): Promise<void> {
    if (this.#leases.get(name)?.holder === holder) this.#leases.delete(name);
  }
}
