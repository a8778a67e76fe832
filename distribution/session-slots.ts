/**
 * Concurrent sessions per user across every edge (DESIGN rule 2): each authenticated session
 * holds a slot in the bus's session slots (Redis in the scaled mode), renewed every third of its
 * ttl — a tenth of the sessions at a time, every thirtieth of it: renewing a thousand at once held
 * the fan-out's turn and Redis behind a thousand scripts, tens of milliseconds of every client's
 * latency (docs/distribution.md, "Latency against the bare relay"). A session that finds the user's slots taken runs without one — delayed, reason
 * `session_limit` — and takes a slot as soon as one frees (on this edge at once, on another at the
 * next renewal). If an edge dies, its slots lapse after the ttl. A session that replaces a dead one
 * of its device (distribution/takeover.ts) is handed that one's slot: freed first, then taken.
 */
import type { SessionSlots } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';

/** The sessions are renewed in this many slices, one slice per tick: each every third of the ttl. */
const RENEW_SLICES = 10;

export interface SlotHolder {
  readonly id: string;
  readonly userId: string;
  /** Whether it holds a slot, and how many sessions the user has counting it. */
  slotHeld: boolean;
  openSessions: number;
  /** Called after a renewal or retry changed `slotHeld`. */
  slotChanged(): void;
}

export interface SlotKeeperOptions {
  slots: SessionSlots;
  ttlMs: number;
  /** The user's concurrent-session limit. */
  limitOf: (userId: string) => number;
  logger: Logger;
}

export class SlotKeeper {
  readonly #slots: SessionSlots;
  readonly #ttlMs: number;
  readonly #limitOf: (userId: string) => number;
  readonly #logger: Logger;
  /** Every session here, with the renewal slice it is in. */
  readonly #holders = new Map<SlotHolder, number>();
  #placed = 0;
  #slice = 0;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;

  constructor(options: SlotKeeperOptions) {
    this.#slots = options.slots;
    this.#ttlMs = options.ttlMs;
    this.#limitOf = options.limitOf;
    this.#logger = options.logger;
  }

  start(): void {
    this.#timer ??= setInterval(
      () => void this.#renewSlice(),
      Math.max(1, Math.floor(this.#ttlMs / 3 / RENEW_SLICES)),
    );
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Takes a slot for a new session. If the registry cannot be reached the session gets none (no
   * real time) until a renewal succeeds: the limit is a condition of real time, so it fails closed.
   */
  async open(holder: SlotHolder): Promise<void> {
    this.#holders.set(holder, this.#placed++ % RENEW_SLICES);
    const result = await this.#acquire(holder);
    holder.slotHeld = result?.held ?? false;
    holder.openSessions =
      result === undefined ? this.#limitOf(holder.userId) + 1 : result.count + (result.held ? 0 : 1);
  }

  /**
   * Frees the session's slot, then lets the user's other sessions on this edge try for it — unless
   * `handOver`: the slot is kept for the session that replaces this one, which takes it next.
   * Resolves once the slot store has freed it (or could not: it lapses by itself).
   */
  close(holder: SlotHolder, handOver = false): Promise<void> {
    this.#holders.delete(holder);
    if (!holder.slotHeld) return Promise.resolve();
    holder.slotHeld = false;
    return this.#slots
      .release(holder.userId, holder.id)
      .then(() => (handOver ? undefined : this.retry(holder.userId)))
      .catch((err: unknown) =>
        this.#logger.warn({ err }, 'could not release a session slot; it lapses by itself'),
      );
  }

  /** Lets the user's sessions without a slot try again. */
  async retry(userId: string): Promise<void> {
    const waiting = [...this.#holders.keys()].filter(
      (holder) => holder.userId === userId && !holder.slotHeld,
    );
    await Promise.all(waiting.map((holder) => this.#refresh(holder)));
  }

  /** Renews the next slice's slots and retries its sessions without one (pipelined on the bus). */
  async #renewSlice(): Promise<void> {
    const slice = this.#slice;
    this.#slice = (slice + 1) % RENEW_SLICES;
    const due: SlotHolder[] = [];
    for (const [holder, at] of this.#holders) if (at === slice) due.push(holder);
    await Promise.all(due.map((holder) => this.#refresh(holder)));
  }

  /** Tries once more for a session opened here: after a takeover freed a slot for it. */
  refresh(holder: SlotHolder): Promise<void> {
    return this.#refresh(holder);
  }

  async #refresh(holder: SlotHolder): Promise<void> {
    const result = await this.#acquire(holder);
    if (result === undefined || !this.#holders.has(holder)) return;
    const changed = result.held !== holder.slotHeld;
    holder.slotHeld = result.held;
    holder.openSessions = result.count + (result.held ? 0 : 1);
    if (changed) holder.slotChanged();
  }

  async #acquire(holder: SlotHolder): Promise<{ held: boolean; count: number } | undefined> {
    try {
      const result = await this.#slots.acquire(
        holder.userId,
        holder.id,
        this.#limitOf(holder.userId),
        this.#ttlMs,
      );
      if (this.#failing) this.#logger.info('session slots reachable again');
      this.#failing = false;
      return result;
    } catch (err) {
      if (!this.#failing)
        this.#logger.warn({ err }, 'session slots unreachable; sessions keep their state until it answers');
      this.#failing = true;
      return undefined;
    }
  }
}
