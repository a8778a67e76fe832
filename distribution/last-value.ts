/**
 * The last quote or trade of a symbol as a user may see it now, in one place for the REST last
 * values and snapshots (rest-access.ts) and the WebSocket's snapshot on subscribe (session.ts):
 *
 * - real time: the last value ingest wrote to the last-value cache (the live one);
 * - delayed: the value as of the cut, `now − delay` — the one the edge's delay line released, or
 *   the live one when it is already that old, whichever is newer. Never a value stamped after the
 *   cut (DESIGN rule 4): a released value is at most that new by construction, and the live one
 *   is taken only when it is.
 */
import { typeIndex } from './channels.js';
import type { Slot } from './delay-line.js';

/** Where delayed values come from: the edge's delay lines (`DelayLines.releasedValue`). */
export interface ReleasedValues {
  releasedValue(type: number, sym: string): Slot | undefined;
}

/**
 * The last `type` value of `sym` for a user in `mode`, whose answer is as of `cut` (now for real
 * time, now − delay for delayed); `live` is the last-value cache's. Undefined when there is none
 * that old.
 */
export function lastValueAsOf<T extends { t: number }>(
  released: ReleasedValues,
  type: 'Q' | 'T',
  sym: string,
  live: T | null,
  mode: 'realtime' | 'delayed',
  cut: number,
): T | undefined {
  if (mode === 'realtime') return live ?? undefined;
  const liveOldEnough = live !== null && live.t <= cut;
  const slot = released.releasedValue(typeIndex(type), sym);
  if (slot !== undefined && slot.t <= cut && (!liveOldEnough || slot.t >= (live as T).t)) {
    return JSON.parse(slot.buf.toString('utf8', 0, slot.len)) as T;
  }
  return liveOldEnough ? (live as T) : undefined;
}
