/**
 * The drill's own event-loop stalls. The clients live in the drill's process, so a receipt time is
 * when the drill got round to the frame, not when it arrived: a frame read right after the drill's
 * loop was blocked may have been in its socket since the block began. A tick every `TICK_MS`
 * records each gap over `STALL_MS`; the ground truth judges a frame read during or just after one
 * at the earliest instant it could have arrived, and says so (docs/drill.md, "The drill's clock").
 */

/** The recorder's tick. */
export const TICK_MS = 10;
/** A gap between ticks longer than this is a stall. */
export const STALL_MS = 100;

export interface Stall {
  /** The last tick before the gap. */
  from: number;
  /** The tick that ended it. */
  to: number;
}

export class LoopStalls {
  readonly stalls: Stall[] = [];
  #last = Date.now();
  #timer: NodeJS.Timeout | undefined;

  start(): this {
    this.#last = Date.now();
    this.#timer = setInterval(() => {
      const now = Date.now();
      if (now - this.#last > STALL_MS) this.stalls.push({ from: this.#last, to: now });
      this.#last = now;
    }, TICK_MS);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * The earliest instant a frame read at `recv` could have reached the drill's socket: `recv`
   * itself, or, read during a stall or within `STALL_MS` after it (the backlog it left), the tick
   * before the stall began. Never before `notBefore` (the event's own vendor time).
   */
  earliestArrival(recv: number, notBefore: number): number {
    const stall = this.stallAt(recv);
    return stall === undefined ? recv : Math.max(notBefore, Math.min(recv, stall.from - TICK_MS));
  }

  stallAt(recv: number): Stall | undefined {
    // Binary search: the last stall that began before `recv`.
    let lo = 0;
    let hi = this.stalls.length - 1;
    let found: Stall | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.stalls[mid] as Stall;
      if (s.from < recv) {
        found = s;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found !== undefined && recv <= found.to + STALL_MS ? found : undefined;
  }

  /** In words: how many, the longest, and when. */
  describe(): string {
    if (this.stalls.length === 0) return `the drill's own event loop never stalled over ${STALL_MS} ms`;
    const longest = this.stalls.reduce((a, b) => (b.to - b.from > a.to - a.from ? b : a));
    const total = this.stalls.reduce((sum, s) => sum + s.to - s.from, 0);
    return `the drill's own event loop stalled over ${STALL_MS} ms ${this.stalls.length} times (${total} ms in all), longest ${longest.to - longest.from} ms at ${new Date(longest.from).toISOString()}: frames read then are judged at the earliest instant they could have arrived`;
  }
}
