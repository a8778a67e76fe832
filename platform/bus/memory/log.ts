/**
 * The stream machinery the in-process bus builds on: `<ms>-<seq>` ids as Redis makes them, an
 * append-only log addressed by absolute position, and blocking reads that wake on append.
 */
import { compareIds } from '../ids.js';
import type { ShardEntry, StartFrom } from '../types.js';

/** Dropped slots are reclaimed once at least this many have piled up at the front of a log. */
const COMPACT_AFTER = 1024;

/** Stream ids as Redis makes them: the clock in ms, then a sequence within the same ms. */
export class IdClock {
  #ms = 0;
  #seq = 0;

  next(): string {
    const now = Date.now();
    if (now > this.#ms) {
      this.#ms = now;
      this.#seq = 0;
    } else {
      this.#seq++;
    }
    return `${this.#ms}-${this.#seq}`;
  }
}

/**
 * Entries addressed by absolute position (0 for the first entry ever appended), so a reader's
 * position is one number that stays valid while the front is trimmed away.
 */
export class Log<E> {
  #items: Array<E | undefined> = [];
  /** Absolute position of `#items[0]`. */
  #offset = 0;
  /** Index in `#items` of the first slot that may still hold an entry. */
  #head = 0;

  get start(): number {
    return this.#offset + this.#head;
  }

  get end(): number {
    return this.#offset + this.#items.length;
  }

  append(entry: E): number {
    this.#items.push(entry);
    return this.end - 1;
  }

  at(position: number): E | undefined {
    return this.#items[position - this.#offset];
  }

  /** Drops every entry before `position`. */
  dropBefore(position: number): void {
    const head = Math.min(position - this.#offset, this.#items.length);
    if (head <= this.#head) return;
    this.#items.fill(undefined, this.#head, head);
    this.#head = head;
    this.#compact();
  }

  remove(position: number): void {
    const index = position - this.#offset;
    if (index < this.#head || index >= this.#items.length) return;
    this.#items[index] = undefined;
    while (this.#head < this.#items.length && this.#items[this.#head] === undefined) this.#head++;
    this.#compact();
  }

  #compact(): void {
    if (this.#head < COMPACT_AFTER || this.#head * 2 < this.#items.length) return;
    this.#items = this.#items.slice(this.#head);
    this.#offset += this.#head;
    this.#head = 0;
  }
}

/** Readers blocked on a stream; an append wakes them all and they look again. */
export class Waiters {
  readonly #wakers = new Set<() => void>();

  add(waker: () => void): void {
    this.#wakers.add(waker);
  }

  delete(waker: () => void): void {
    this.#wakers.delete(waker);
  }

  wake(): void {
    if (this.#wakers.size === 0) return;
    const wakers = [...this.#wakers];
    this.#wakers.clear();
    for (const waker of wakers) waker();
  }
}

/** Resolves when any of `sources` wakes or after `ms`, whichever comes first. */
function waitAny(sources: readonly Waiters[], ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      for (const source of sources) source.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    for (const source of sources) source.add(done);
  });
}

/** Repeats `take` until it finds something, `blockMs` runs out, or the reader closes. */
export async function blockingRead<T>(
  take: () => T[],
  blockMs: number,
  sources: readonly Waiters[],
  isClosed: () => boolean,
): Promise<T[]> {
  const deadline = Date.now() + blockMs;
  for (;;) {
    if (isClosed()) return [];
    const taken = take();
    if (taken.length > 0) return taken;
    const left = deadline - Date.now();
    if (left <= 0) return taken;
    await waitAny(sources, left);
  }
}

/** The ms part of a `<ms>-<seq>` id. */
function idTime(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}

/** Position of the first entry of `log` for which `reached` holds: ids increase, so a binary search. */
function positionWhere(log: Log<ShardEntry>, reached: (id: string) => boolean): number {
  let low = log.start;
  let high = log.end;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const entry = log.at(mid);
    if (entry !== undefined && reached(entry.id)) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** `after`: the id to read after for this log, when the reader starts `{ after }`. */
export function startPosition(log: Log<ShardEntry>, from: StartFrom, after = '0-0'): number {
  if (from === 'latest') return log.end;
  if (from === 'earliest') return 0;
  if ('after' in from) return positionWhere(log, (id) => compareIds(id, after) > 0);
  return positionWhere(log, (id) => idTime(id) >= from.time);
}
