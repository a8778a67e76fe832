/**
 * Resume after reconnect (issue 19): a client that kept the `offsets` statuses sends them back
 * right after auth; its next subscribe replays, from the bus's retained window, what the channels
 * carried after those offsets, then joins the live fan-out at the exact point the replay reached,
 * so nothing is missed or sent twice. Each replayed event is sent in the mode the user has now:
 * real time only while entitled to it (the session's real-time guard runs first), delayed only
 * once `t + delay` has passed and the delay line no longer holds it (what it holds, it releases
 * to the session itself), nothing when refused.
 *
 * Offsets are positions in the shard streams (`<ms>-<seq>` ids) with each stream's epoch: an
 * epoch that changed (Redis lost its data) or an offset trimmed away (`maxLen`) is a gap, and the
 * client is told to subscribe afresh.
 */
import { BatchCursor } from '../ingest/index.js';
import {
  compareIds,
  isStreamId,
  type Retention,
  type ShardEntry,
  type TickStreams,
} from '../platform/bus/index.js';
import { CHANNEL_TYPES, type ChannelSpec, typeIndex, WILDCARD } from './channels.js';
import { DELAYED, type ModeCode, REALTIME } from './products.js';
import type { StreamOffsets } from './stream-offsets.js';

export const RESUME_EXAMPLE =
  '{"action":"resume","params":{"0":{"epoch":"1f0c9a2e","offset":"1733231400123-0"},"1":{…}}}';

/** A resume the client asked for: the id to read after, per shard. */
export type ResumeFrom = readonly string[];

export type ParsedResume =
  | { ok: true; points: Array<{ epoch: string; offset: string }> }
  | { ok: false; error: string };

/** Checks the shape of `params`: every shard's `{epoch, offset}`, exactly as the offsets statuses gave them. */
export function parseResume(params: unknown, shards: number): ParsedResume {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    return {
      ok: false,
      error: `resume params must be the offsets object the offsets statuses carry, as in ${RESUME_EXAMPLE}`,
    };
  }
  const given = params as Record<string, unknown>;
  const points: Array<{ epoch: string; offset: string }> = [];
  for (let shard = 0; shard < shards; shard++) {
    const point = given[String(shard)] as { epoch?: unknown; offset?: unknown } | undefined;
    if (typeof point !== 'object' || point === null) {
      return {
        ok: false,
        error: `resume needs an offset for every stream 0–${shards - 1} (stream ${shard} is missing): send back every offset the offsets statuses gave, as in ${RESUME_EXAMPLE}`,
      };
    }
    const { epoch, offset } = point;
    if (typeof epoch !== 'string' || epoch === '' || epoch.length > 64) {
      return { ok: false, error: `stream ${shard}: epoch must be the string an offsets status gave` };
    }
    if (typeof offset !== 'string' || !isStreamId(offset)) {
      return {
        ok: false,
        error: `stream ${shard}: offset must be an id such as "1733231400123-0", as an offsets status gave it`,
      };
    }
    points.push({ epoch, offset });
  }
  const extra = Object.keys(given).find((key) => !/^\d+$/.test(key) || Number(key) >= shards);
  if (extra !== undefined) {
    return {
      ok: false,
      error: `there is no stream ${JSON.stringify(extra.slice(0, 20))}: streams are 0–${shards - 1}`,
    };
  }
  return { ok: true, points };
}

export interface Gap {
  stream: number;
  /** `epoch`: the stream's history restarted; `trimmed`: entries after the offset were trimmed away. */
  reason: 'epoch' | 'trimmed';
}

export type ResumeCheck =
  | { ok: true; from: ResumeFrom }
  | { ok: false; gaps: Gap[] }
  | { ok: false; ahead: number };

/** Whether the bus still holds everything after every offset. */
export function checkResume(
  points: ReadonlyArray<{ epoch: string; offset: string }>,
  retention: readonly Retention[],
): ResumeCheck {
  const gaps: Gap[] = [];
  for (let stream = 0; stream < points.length; stream++) {
    const { epoch, offset } = points[stream] as { epoch: string; offset: string };
    const held = retention[stream] as Retention;
    if (held.epoch !== epoch) gaps.push({ stream, reason: 'epoch' });
    else if (compareIds(held.deletedThrough, offset) > 0) gaps.push({ stream, reason: 'trimmed' });
    else if (compareIds(offset, held.lastId) > 0) return { ok: false, ahead: stream };
  }
  return gaps.length > 0 ? { ok: false, gaps } : { ok: true, from: points.map((point) => point.offset) };
}

/** What a replay needs to decide, per event, whether and how the session gets it now. */
export interface ReplayContext {
  /** Product index per tape (-1: none). */
  byTape: readonly number[];
  modes: readonly ModeCode[];
  delays: readonly number[];
  /** Per product: vendor times from here on are still held by its delay line (Infinity: none). */
  heldFrom(product: number): number;
  now: number;
}

/** The session's channels as a lookup: symbols per type, and which types are wildcards. */
export class ChannelSet {
  readonly #syms = CHANNEL_TYPES.map(() => new Set<string>());
  readonly #wild = CHANNEL_TYPES.map(() => false);

  constructor(specs: Iterable<ChannelSpec>) {
    for (const spec of specs) {
      if (spec.sym === WILDCARD) this.#wild[spec.type] = true;
      else this.#syms[spec.type]?.add(spec.sym);
    }
  }

  has(type: number, sym: string): boolean {
    return this.#wild[type] === true || this.#syms[type]?.has(sym) === true;
  }
}

/** One replayed frame: the events' JSON as `[e1,e2,…]`, and the real-time ones per product. */
export interface ReplayFrame {
  frame: Buffer | undefined;
  events: number;
  realtime: number[];
  malformed: number;
}

/** The events of `entries` the session gets now, in order, as one frame. */
export function replayFrame(
  entries: readonly ShardEntry[],
  channels: ChannelSet,
  ctx: ReplayContext,
): ReplayFrame {
  const cursor = new BatchCursor();
  const parts: Buffer[] = [];
  const realtime = new Array<number>(ctx.modes.length).fill(0);
  let malformed = 0;
  for (const entry of entries) {
    try {
      cursor.reset(entry.payload);
      while (cursor.next()) {
        const product = ctx.byTape[cursor.tape] as number;
        if (product < 0 || !channels.has(typeIndex(cursor.type), cursor.sym)) continue;
        const mode = ctx.modes[product];
        if (mode === REALTIME) realtime[product] = (realtime[product] as number) + 1;
        else if (
          mode !== DELAYED ||
          cursor.t + (ctx.delays[product] as number) > ctx.now ||
          cursor.t >= ctx.heldFrom(product)
        )
          continue;
        parts.push(Buffer.from(cursor.json()));
      }
    } catch {
      malformed++;
    }
  }
  if (parts.length === 0) return { frame: undefined, events: 0, realtime, malformed };
  const frame = Buffer.concat([OPEN, ...parts.flatMap((part, i) => (i > 0 ? [COMMA, part] : [part])), CLOSE]);
  return { frame, events: parts.length, realtime, malformed };
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

export interface ReplayOptions {
  ticks: TickStreams;
  from: ResumeFrom;
  /** The live positions: the replay ends where they are, and the session joins them there. */
  live: StreamOffsets;
  readCount: number;
  /** Entries to replay (ids after `from`, up to the live position), with the positions reached; false stops. */
  send(entries: readonly ShardEntry[], positions: readonly string[]): boolean;
  /** Called in the same tick as the check that the replay reached the live positions. */
  join(): void;
  /** How long to wait for this edge's live reader to reach an offset it has not read yet. */
  behindWaitMs: number;
}

export type ReplayOutcome = 'joined' | 'stopped' | { behind: number };

const BEHIND_PAUSE_MS = 20;

/**
 * Reads after `from` until the replay has reached the live position on every shard, and joins
 * then, synchronously: live turns after that carry only entries past those positions. What the
 * reader brings past a live position waits, and is replayed if the live reader passes it before
 * the join, or left to the live fan-out once the session has joined.
 */
export async function replay(options: ReplayOptions): Promise<ReplayOutcome> {
  const { live, from } = options;
  const reader = options.ticks.reader({ from: { after: from } });
  const positions = [...from];
  const ahead: ShardEntry[][] = from.map(() => []);
  const giveUpAt = Date.now() + options.behindWaitMs;
  try {
    for (;;) {
      const entries = await reader.next({ count: options.readCount, blockMs: 0 });
      for (const entry of entries) ahead[entry.shard]?.push(entry);
      const kept: ShardEntry[] = [];
      let behind = -1;
      let done = true;
      for (let shard = 0; shard < positions.length; shard++) {
        const at = live.id(shard);
        const waiting = ahead[shard] as ShardEntry[];
        let taken = 0;
        while (taken < waiting.length && compareIds((waiting[taken] as ShardEntry).id, at) <= 0) taken++;
        for (const entry of waiting.splice(0, taken)) {
          kept.push(entry);
          positions[shard] = entry.id;
        }
        // This edge has not read as far as the client had (it came from an edge further ahead).
        if (compareIds(from[shard] as string, at) > 0) behind = shard;
        else if (waiting.length === 0 && compareIds(positions[shard] as string, at) < 0) done = false;
      }
      if (kept.length > 0 && !options.send(kept, positions)) return 'stopped';
      if (behind < 0 && done) {
        options.join();
        return 'joined';
      }
      if (behind >= 0 && Date.now() >= giveUpAt) return { behind };
      if (entries.length === 0) await new Promise((resolve) => setTimeout(resolve, BEHIND_PAUSE_MS));
    }
  } finally {
    await reader.close();
  }
}
