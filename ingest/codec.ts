/**
 * The payload of one tick-stream entry: a batch of events, laid out for the distribution edge's
 * hot path. An edge routes each event by symbol and tape, holds it until `t + delay` for delayed
 * users, and sends its client JSON to every entitled socket — all without parsing JSON or
 * re-encoding per client: the JSON is stored ready to send, and the routing keys sit beside it.
 *
 * Format (integers little-endian):
 *
 *   batch := version:u8 (= 1)  count:u32  event × count
 *   event := type:u8  tape:u8  symLen:u8  jsonLen:u16  t:f64  sym:ascii[symLen]  json:utf8[jsonLen]
 *
 *   type   1 T (trade), 2 Q (quote), 3 A (second bar), 4 AM (minute bar), 5 LULD (price band)
 *   tape   1, 2 or 3 (Polygon `z`; for bars, the tape of the symbol's trades and quotes)
 *   t      vendor time, epoch ms (a bar's window end); f64 holds any ms timestamp exactly
 *   json   the event exactly as a Polygon client receives it, e.g. {"ev":"Q","sym":"AAPL",…}
 *
 * Fixed-size fields come first so a reader skips an event with one addition.
 */
import { type EventType, type FeedEvent, symbolOf, type Tape, vendorTime } from './event.js';
import { serializeEvent } from './json.js';

const VERSION = 1;
const BATCH_HEADER = 5;
const EVENT_HEADER = 13;
const MAX_JSON = 0xffff;
const TYPE_CODES: Record<EventType, number> = { T: 1, Q: 2, A: 3, AM: 4, LULD: 5 };
const TYPES: ReadonlyArray<EventType | undefined> = [undefined, 'T', 'Q', 'A', 'AM', 'LULD'];

export interface TapedEvent {
  event: FeedEvent;
  tape: Tape;
}

/**
 * Appends events to one growing buffer and hands out finished batches. The buffer is reused
 * across batches, so steady-state encoding allocates only the finished payload.
 */
export class BatchWriter {
  #buf: Buffer;
  #end = BATCH_HEADER;
  #count = 0;
  #minT = Number.POSITIVE_INFINITY;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafe(Math.max(initialBytes, 256));
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#end;
  }

  /** The oldest vendor time in the batch being built (Infinity when empty). */
  get minT(): number {
    return this.#minT;
  }

  /** Adds an event whose client JSON is `json` (from serializeEvent; at most 64 KiB). */
  add(event: FeedEvent, tape: Tape, json: string): void {
    this.append(event.ev, tape, symbolOf(event), vendorTime(event), json);
  }

  /** Adds an event by its routing keys, vendor time `t` and client JSON (at most 64 KiB). */
  append(type: EventType, tape: Tape, sym: string, t: number, json: string): void {
    // UTF-8 takes at most 3 bytes per UTF-16 unit, so this bound never under-reserves.
    this.#reserve(EVENT_HEADER + sym.length + json.length * 3);
    const buf = this.#buf;
    const at = this.#end;
    buf[at] = TYPE_CODES[type];
    buf[at + 1] = tape;
    buf[at + 2] = sym.length;
    buf.writeDoubleLE(t, at + 5);
    const symAt = at + EVENT_HEADER;
    // Symbols are short printable ASCII (checked by the normaliser): a loop beats Buffer#write's setup.
    for (let k = 0; k < sym.length; k++) buf[symAt + k] = sym.charCodeAt(k);
    const jsonAt = symAt + sym.length;
    const jsonLen = buf.write(json, jsonAt, 'utf8');
    if (jsonLen > MAX_JSON) throw new RangeError(`event JSON of ${jsonLen} bytes exceeds ${MAX_JSON}`);
    buf.writeUInt16LE(jsonLen, at + 3);
    this.#end = jsonAt + jsonLen;
    this.#count++;
    if (t < this.#minT) this.#minT = t;
  }

  /** The finished batch (a copy the caller owns), leaving the writer empty. */
  take(): Buffer {
    const buf = this.#buf;
    buf[0] = VERSION;
    buf.writeUInt32LE(this.#count, 1);
    const out = Buffer.allocUnsafe(this.#end);
    buf.copy(out, 0, 0, this.#end);
    this.clear();
    return out;
  }

  clear(): void {
    this.#end = BATCH_HEADER;
    this.#count = 0;
    this.#minT = Number.POSITIVE_INFINITY;
  }

  #reserve(bytes: number): void {
    const needed = this.#end + bytes;
    if (needed <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#buf.length * 2));
    this.#buf.copy(grown, 0, 0, this.#end);
    this.#buf = grown;
  }
}

/** One batch holding `events`, in order. */
export function encodeBatch(events: ReadonlyArray<TapedEvent>): Buffer {
  const writer = new BatchWriter();
  for (const { event, tape } of events) writer.add(event, tape, serializeEvent(event));
  return writer.take();
}

/**
 * Walks a batch without copying: `json()` is a view into the payload. One cursor can be reused for
 * every batch a reader sees. Throws RangeError on a payload that is not a well-formed batch.
 *
 *   const cursor = new BatchCursor();
 *   for (cursor.reset(payload); cursor.next(); ) route(cursor.sym, cursor.tape, cursor.t, cursor.json());
 */
export class BatchCursor {
  type: EventType = 'T';
  tape: Tape = 1;
  sym = '';
  t = 0;
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #left = 0;
  #jsonStart = 0;
  #jsonEnd = 0;

  reset(buf: Buffer): this {
    if (buf.length < BATCH_HEADER || buf[0] !== VERSION) {
      throw new RangeError(`not a tick batch (version ${buf[0]}, ${buf.length} bytes)`);
    }
    this.#buf = buf;
    this.#left = buf.readUInt32LE(1);
    this.#pos = BATCH_HEADER;
    return this;
  }

  /** Events left after the current one. */
  get remaining(): number {
    return this.#left;
  }

  /** Moves to the next event; false at the end of the batch. */
  next(): boolean {
    if (this.#left === 0) return false;
    const buf = this.#buf;
    const at = this.#pos;
    if (at + EVENT_HEADER > buf.length) throw new RangeError(`tick batch truncated at byte ${at}`);
    const type = TYPES[buf[at]!];
    const tape = buf[at + 1]!;
    if (type === undefined || tape < 1 || tape > 3) throw new RangeError(`bad event header at byte ${at}`);
    const symLen = buf[at + 2]!;
    const jsonLen = buf.readUInt16LE(at + 3);
    const symAt = at + EVENT_HEADER;
    const end = symAt + symLen + jsonLen;
    if (end > buf.length) throw new RangeError(`tick batch truncated at byte ${at}`);
    this.type = type;
    this.tape = tape as Tape;
    this.t = buf.readDoubleLE(at + 5);
    this.sym = buf.toString('latin1', symAt, symAt + symLen);
    this.#jsonStart = symAt + symLen;
    this.#jsonEnd = end;
    this.#pos = end;
    this.#left--;
    return true;
  }

  /** The current event's client JSON: a view into the batch, valid as long as the batch is. */
  json(): Buffer {
    return this.#buf.subarray(this.#jsonStart, this.#jsonEnd);
  }
}

export type BatchVisitor = (type: EventType, tape: Tape, sym: string, t: number, json: Buffer) => void;

/** Calls `visit` for every event of a batch, in order; `json` is a view into `buf`. */
export function decodeBatch(buf: Buffer, visit: BatchVisitor): void {
  const cursor = new BatchCursor().reset(buf);
  while (cursor.next()) visit(cursor.type, cursor.tape, cursor.sym, cursor.t, cursor.json());
}
