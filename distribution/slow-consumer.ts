/**
 * Slow consumers. A socket's queue is watched through `bufferedAmount` (bytes handed to the
 * socket and not yet taken by the kernel); memory per socket stays bounded whatever the client
 * does:
 *
 * 1. below `bufferHighBytes`, frames are sent as they come;
 * 2. above it, nothing more is queued: the socket conflates — it keeps only the latest event per
 *    type and symbol (at most `maxConflatedKeys`) and gets them as one frame once its queue falls
 *    below half the high mark;
 * 3. a socket whose queue reaches `bufferMaxBytes`, still conflating after `conflateForMs`, or
 *    over `maxConflatedKeys` is told 407 and closed.
 *
 * Other sockets never wait for a slow one: sending never blocks, and a slow socket's extra cost is
 * its own conflation map.
 */
import { REALTIME } from './products.js';

export interface BufferLimits {
  bufferHighBytes: number;
  bufferMaxBytes: number;
  conflateForMs: number;
  maxConflatedKeys: number;
}

export type SendVerdict = 'send' | 'conflate' | 'close';

/** What to do with the next frame for a socket with `queued` bytes waiting. */
export function verdict(queued: number, limits: BufferLimits): SendVerdict {
  if (queued < limits.bufferHighBytes) return 'send';
  return queued >= limits.bufferMaxBytes ? 'close' : 'conflate';
}

/** The turn's events as the fan-out holds them, by index. */
export interface EventTable {
  json(event: number): Buffer;
  type(event: number): number;
  sym(event: number): string;
  product(event: number): number;
}

interface Held {
  json: Buffer;
  product: number;
  realtime: boolean;
}

/** The latest event per type and symbol for one socket that cannot keep up. */
export class Conflation {
  readonly since: number;
  readonly #held = new Map<string, Held>();

  constructor(since: number) {
    this.since = since;
  }

  get size(): number {
    return this.#held.size;
  }

  /** Keeps these events, replacing older ones of the same type and symbol (copied: batches are not retained). */
  add(events: readonly number[], table: EventTable, realtime: boolean): void {
    for (const event of events) {
      const key = table.type(event) + table.sym(event);
      this.#held.set(key, { json: Buffer.from(table.json(event)), product: table.product(event), realtime });
    }
  }

  /** Keeps an event already copied, under its key (type index, then symbol), replacing an older one. */
  keep(key: string, json: Buffer, product: number, realtime: boolean): void {
    this.#held.set(key, { json, product, realtime });
  }

  /** Forgets real-time events of products no longer real time: they must not be sent after the change. */
  dropRealtime(modes: readonly number[]): void {
    for (const [key, held] of this.#held) {
      if (held.realtime && modes[held.product] !== REALTIME) this.#held.delete(key);
    }
  }

  /** The held events as one frame, and the real-time ones per product (for metering). */
  encode(products: number): { frame: Buffer | undefined; realtime: number[] } {
    const realtime = new Array<number>(products).fill(0);
    const parts: Buffer[] = [];
    for (const held of this.#held.values()) {
      parts.push(held.json);
      if (held.realtime) realtime[held.product] = (realtime[held.product] as number) + 1;
    }
    return { frame: parts.length === 0 ? undefined : encodeFrame(parts), realtime };
  }
}

const OPEN = 0x5b;
const COMMA = 0x2c;
const CLOSE = 0x5d;

/** `[e1,e2,…]` from event JSONs: one allocation, each event copied once. */
export function encodeFrame(parts: readonly Buffer[]): Buffer {
  let size = Math.max(2, parts.length + 1);
  for (const part of parts) size += part.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = OPEN;
  let at = 1;
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) out[at++] = COMMA;
    at += (parts[i] as Buffer).copy(out, at);
  }
  out[at] = CLOSE;
  return out;
}
