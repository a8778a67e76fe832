import { checkTtl } from '../checks.js';
import type { SessionSlots } from '../types.js';

export class MemorySessionSlots implements SessionSlots {
  /** Expiry instant of each held slot, by group. */
  readonly #groups = new Map<string, Map<string, number>>();

  async acquire(
    group: string,
    id: string,
    limit: number,
    ttlMs: number,
  ): Promise<{ held: boolean; count: number }> {
    checkTtl('session', ttlMs);
    const now = Date.now();
    let slots = this.#groups.get(group);
    if (slots === undefined) {
      slots = new Map();
      this.#groups.set(group, slots);
    }
    for (const [slot, expiresAt] of slots) if (expiresAt <= now) slots.delete(slot);
    if (slots.has(id) || slots.size < limit) {
      slots.set(id, now + ttlMs);
      return { held: true, count: slots.size };
    }
    return { held: false, count: slots.size };
  }

  async release(group: string, id: string): Promise<void> {
    const slots = this.#groups.get(group);
    if (slots === undefined) return;
    slots.delete(id);
    if (slots.size === 0) this.#groups.delete(group);
  }

  async count(group: string): Promise<number> {
    const slots = this.#groups.get(group);
    if (slots === undefined) return 0;
    const now = Date.now();
    let count = 0;
    for (const expiresAt of slots.values()) if (expiresAt > now) count++;
    return count;
  }

  async held(group: string, id: string): Promise<boolean> {
    const expiresAt = this.#groups.get(group)?.get(id);
    return expiresAt !== undefined && expiresAt > Date.now();
  }
}
