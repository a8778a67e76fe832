/**
 * The snapshot a subscribe may ask for (`{"action":"subscribe","params":"Q.AAPL","snapshot":true}`,
 * additive to Polygon's protocol): each channel's current value, sent as one frame of one event —
 * the same event object the stream sends — right after the subscribe's statuses and before any
 * of the channel's stream.
 *
 * - Which value: the last quote or trade for the user's mode on the symbol's product, decided when
 *   it is sent (last-value.ts): real time the last value ingest wrote; delayed the last value as
 *   of now − delay, never newer. A refused product gets none.
 * - Which channels: one symbol's `T` or `Q`. A wildcard (`Q.*`) would be thousands of frames for
 *   one message, and bars and LULD bands have no last value here: those subscribe as asked, with
 *   `"snapshot":"unsupported"` in their status (the REST snapshot serves a whole market).
 * - Counting: a real-time snapshot is a real-time delivery, metered like any real-time frame; a
 *   delayed one is not.
 *
 * The session reads the live values for a message's channels in one round trip per type, while it
 * looks up their symbols, and picks each one synchronously with its statuses, so nothing of the
 * stream can come between.
 */
import type { Quote, Trade } from '../ingest/index.js';
import { CHANNEL_TYPES, type ChannelSpec, WILDCARD } from './channels.js';
import { lastValueAsOf, type ReleasedValues } from './last-value.js';
import { DELAYED, delayWords, type ModeCode, type ProductTable, REALTIME } from './products.js';

/** What a subscribe's status says of its snapshot (`"snapshot"`). */
export type SnapshotState = 'sent' | 'none' | 'unsupported';

export interface SnapshotPick {
  state: SnapshotState;
  /** The frame to send when `sent`: `[event]`. */
  frame?: string;
  /** The product the value is of, when sent in real time (to meter it); -1 otherwise. */
  realtimeProduct: number;
  /** Why none was sent, in words. */
  words?: string;
}

/** The live values of a message's snapshot channels, by param; `failed` when they could not be read. */
export interface LiveValues {
  readonly values: ReadonlyMap<string, Quote | Trade | null>;
  readonly failed: boolean;
}

export const NO_LIVE_VALUES: LiveValues = { values: new Map(), failed: false };

const NOUN: Record<string, string> = { Q: 'quote', T: 'trade' };

/** Whether a channel can have a snapshot: one symbol's trades or quotes. */
export function hasSnapshot(spec: ChannelSpec): boolean {
  const type = CHANNEL_TYPES[spec.type];
  return (type === 'Q' || type === 'T') && spec.sym !== WILDCARD;
}

/** Reads the live value of every channel that can have a snapshot, one round trip per type. */
export async function readLiveValues(
  specs: readonly ChannelSpec[],
  read: (type: 'Q' | 'T', syms: readonly string[]) => Promise<Array<Quote | Trade | null>>,
): Promise<LiveValues> {
  const byType = { Q: new Set<string>(), T: new Set<string>() };
  for (const spec of specs) {
    if (hasSnapshot(spec)) byType[CHANNEL_TYPES[spec.type] as 'Q' | 'T'].add(spec.sym);
  }
  const values = new Map<string, Quote | Trade | null>();
  try {
    await Promise.all(
      (['Q', 'T'] as const).map(async (type) => {
        const syms = [...byType[type]];
        if (syms.length === 0) return;
        const found = await read(type, syms);
        syms.forEach((sym, k) => {
          values.set(`${type}.${sym}`, found[k] ?? null);
        });
      }),
    );
  } catch {
    return { values: new Map(), failed: true };
  }
  return { values, failed: false };
}

export interface PickContext {
  products: ProductTable;
  /** The session's mode per product index, as decided now. */
  modes: readonly ModeCode[];
  released: ReleasedValues;
  /** The product of a symbol the directory knows (when the last-value cache has nothing). */
  productOf: (sym: string) => number | undefined;
  now: number;
}

/** The snapshot of one subscribed channel, decided now from the session's modes. */
export function pickSnapshot(spec: ChannelSpec, live: LiveValues, ctx: PickContext): SnapshotPick {
  if (!hasSnapshot(spec)) {
    return {
      state: 'unsupported',
      realtimeProduct: -1,
      words:
        spec.sym === WILDCARD
          ? `No snapshot for ${spec.param}: snapshots are for one symbol's T or Q channel, such as Q.AAPL (the REST snapshot /v2/snapshot/locale/us/markets/stocks/tickers serves a whole market).`
          : `No snapshot for ${spec.param}: snapshots are for T and Q channels; bars and LULD bands come with the stream.`,
    };
  }
  const type = CHANNEL_TYPES[spec.type] as 'Q' | 'T';
  const noun = NOUN[type] as string;
  if (live.failed) {
    return none(`The current ${noun} of ${spec.sym} could not be read just now; the stream follows.`);
  }
  const value = live.values.get(`${type}.${spec.sym}`) ?? null;
  const product = value === null ? (ctx.productOf(spec.sym) ?? -1) : (ctx.products.byTape[value.z] ?? -1);
  if (product < 0) return none(`There is no ${noun} of ${spec.sym} yet.`);
  const mode = ctx.modes[product];
  if (mode === REALTIME) {
    if (value === null) return none(`There is no ${noun} of ${spec.sym} yet.`);
    return { state: 'sent', frame: `[${JSON.stringify(value)}]`, realtimeProduct: product };
  }
  if (mode !== DELAYED) return none(`Nothing is sent for ${spec.param}: this account may not see its data.`);
  const delayMs = (ctx.products.list[product] as { delayMs: number }).delayMs;
  const asOf = lastValueAsOf(ctx.released, type, spec.sym, value, 'delayed', ctx.now - delayMs);
  if (asOf === undefined) {
    return none(`No ${noun} of ${spec.sym} is ${delayWords(delayMs)} old yet; the delayed stream follows.`);
  }
  return { state: 'sent', frame: `[${JSON.stringify(asOf)}]`, realtimeProduct: -1 };
}

function none(words: string): SnapshotPick {
  return { state: 'none', realtimeProduct: -1, words };
}
