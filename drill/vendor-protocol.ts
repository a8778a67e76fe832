/**
 * What the drill's main thread and its vendor thread share: the symbols, the worker's start-up
 * data, its commands, and the slots of the shared counters.
 */

/** Symbols per tape, named so the tape is visible: `AA0` … on tape 1, `BB0` … on 2, `CC0` … on 3. */
export function drillSymbols(perTape: number): Array<{ sym: string; tape: 1 | 2 | 3 }> {
  const out: Array<{ sym: string; tape: 1 | 2 | 3 }> = [];
  for (const [prefix, tape] of [
    ['AA', 1],
    ['BB', 2],
    ['CC', 3],
  ] as const) {
    for (let i = 0; i < perTape; i++) out.push({ sym: `${prefix}${i}`, tape });
  }
  return out;
}

export interface VendorWorkerData {
  key: string;
  symbolsPerTape: number;
  eventsPerSecond: number;
  /** Float64 per event: when the vendor sent event `q` (at index q − 1). */
  sentAt: SharedArrayBuffer;
  /** Int32 counters, at the S_ slots. */
  state: SharedArrayBuffer;
}

export type VendorCommand = 'start' | 'stop' | 'malformed' | 'overlaps' | 'close';

/** Events sent so far (the newest `q`). */
export const S_SENT = 0;
/** Authenticated connections that have subscribed to something. */
export const S_SUBSCRIBED = 1;
/** Connections authenticated now. */
export const S_AUTHENTICATED = 2;
/** The most connections authenticated at one instant. */
export const S_MAX_SIMULTANEOUS = 3;
/** 1 once the send log was full and the feed stopped. */
export const S_OVERFLOW = 4;
export const STATE_SLOTS = 5;
