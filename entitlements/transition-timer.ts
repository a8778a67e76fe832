/**
 * One timer for every user's next transition instant: a min-heap of (instant, user) with lazy
 * deletion, and a single `setTimeout` armed for the earliest. Rescheduling a user pushes a new
 * entry; the stale one is skipped when it reaches the top.
 */

/** setTimeout's ceiling (about 24.8 days); a later instant is reached in several hops. */
const MAX_DELAY_MS = 2 ** 31 - 1;

interface Entry {
  at: number;
  userId: string;
}

export class TransitionTimer {
  readonly #heap: Entry[] = [];
  readonly #scheduled = new Map<string, number>();
  readonly #onDue: (userId: string) => void;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Number.POSITIVE_INFINITY;
  #stopped = false;

  constructor(onDue: (userId: string) => void, now: () => number) {
    this.#onDue = onDue;
    this.#now = now;
  }

  /** Schedules `userId` for `at` (epoch ms), replacing any earlier schedule; undefined clears it. */
  set(userId: string, at: number | undefined): void {
    if (this.#stopped) return;
    if (at === undefined) {
      this.#scheduled.delete(userId);
      return;
    }
    if (this.#scheduled.get(userId) === at) return;
    this.#scheduled.set(userId, at);
    this.#push({ at, userId });
    if (at < this.#armedFor) this.#arm();
  }

  /** The instant `userId` is scheduled for, if any. */
  scheduledAt(userId: string): number | undefined {
    return this.#scheduled.get(userId);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#heap.length = 0;
    this.#scheduled.clear();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    this.#dropStale();
    const top = this.#heap[0];
    if (!top) return;
    this.#armedFor = top.at;
    const delay = Math.min(Math.max(top.at - this.#now(), 0), MAX_DELAY_MS);
    this.#timer = setTimeout(() => this.#fire(), delay);
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#now();
    const due: string[] = [];
    for (;;) {
      this.#dropStale();
      const top = this.#heap[0];
      // The timer may fire a little before the wall clock reaches the instant; then it waits again.
      if (!top || top.at > now) break;
      this.#pop();
      this.#scheduled.delete(top.userId);
      due.push(top.userId);
    }
    for (const userId of due) {
      if (this.#stopped) return;
      this.#onDue(userId);
    }
    if (!this.#stopped) this.#arm();
  }

  #dropStale(): void {
    for (;;) {
      const top = this.#heap[0];
      if (!top || this.#scheduled.get(top.userId) === top.at) return;
      this.#pop();
    }
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= entry.at) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (heap.length === 0 || !last) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= last.at) break;
      heap[i] = heap[child]!;
      i = child;
    }
    heap[i] = last;
  }
}
