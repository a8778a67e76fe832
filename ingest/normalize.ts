/**
 * Vendor frames in, normalised events out. A frame is one WebSocket text message: a JSON array of
 * Polygon events and statuses. Anything malformed — the whole frame or one element — is counted by
 * reason and skipped; nothing here throws, so bad vendor input can never stop the feed.
 *
 * Events are rebuilt field by field rather than passed through, so a field the vendor adds (or an
 * attacker injects) never reaches a client.
 *
 * A sink that takes client JSON (`encoded`) gets the fast path: frames the scanner (ingest/scan.ts)
 * understands whole are delivered straight from it, and only the rest are parsed here.
 */
import type { Aggregate, EventType, FeedEvent, Luld, Quote, Tape, Trade } from './event.js';
import { FrameScanner } from './scan.js';

export const MALFORMED_REASONS = [
  /** The frame is longer than `maxFrameBytes`. */
  'oversized',
  /** A binary WebSocket message; Polygon only sends text. */
  'binary_frame',
  'invalid_json',
  /** Valid JSON whose top level is not an array. */
  'not_array',
  /** An array element that is not an object. */
  'not_object',
  /** `ev` missing or not one of T, Q, A, AM, LULD, status. */
  'unknown_event',
  /** `sym` (`T` of an LULD event) missing, not a string, or empty. */
  'missing_sym',
  /** `sym` longer than 32 characters or with characters outside printable ASCII (or `"`, `\`, `,`). */
  'bad_symbol',
  /** A field missing or of the wrong type (ids, times and sequence numbers must be integers). */
  'wrong_type',
  /** A price that is negative or not finite. */
  'bad_price',
  /** A size or volume that is negative or not finite. */
  'bad_size',
  /**
   * A tape (`z`) the catalog has no product for, or a bar whose symbol's tape is not known (no
   * trade or quote of it seen yet, or aggregates not subscribed).
   */
  'unknown_tape',
  /**
   * A vendor time (`t` of a tick, `e` of a bar) more than `maxClockSkewMs` ahead of the ingest
   * clock. Dropped rather than clamped: delayed subscribers get an event at its vendor time plus
   * the delay, so an event stamped an hour ahead would otherwise hold its product's delay line
   * back for that hour, and moving its time back would release it earlier than the vendor's own
   * stamp allows (and change the client JSON the fast path copies byte for byte).
   */
  'future_time',
] as const;

export type MalformedReason = (typeof MALFORMED_REASONS)[number];

/** Where the normaliser delivers what it finds, in frame order. */
export interface NormalizedSink {
  /** A valid event and the tape its product is licensed by. */
  event(event: FeedEvent, tape: Tape): void;
  /**
   * A valid event as its client JSON (byte-identical to serializeEvent of the event), with its
   * routing keys and vendor time (`vendorTime`). A sink with this member gets every event of the
   * frames the fast path takes here instead of through `event`.
   */
  encoded?(type: EventType, tape: Tape, sym: string, t: number, json: string): void;
  /** A vendor status element (`connected`, `auth_success`, `max_connections`, …). */
  status(status: string, message: string): void;
}

export interface NormalizerOptions {
  /** The tapes the catalog has products for; events on any other tape are skipped. */
  tapes: Iterable<number>;
  /** Frames longer than this are skipped whole (default 1 MiB). */
  maxFrameBytes?: number;
  /**
   * Whether aggregates (`A`, `AM`) are expected. Bars carry no tape, so the normaliser then
   * remembers each symbol's tape from its trades and quotes; without aggregates it saves that
   * map write per event, and any bar is skipped as `unknown_tape`.
   */
  aggregates?: boolean;
  /** How far a vendor time may be ahead of `now` before the event is dropped (default 5 000 ms). */
  maxClockSkewMs?: number;
  /** The ingest clock, read once per frame (default `Date.now`). */
  now?: () => number;
}

const MAX_SYMBOL_LENGTH = 32;
const MAX_TRADE_ID_LENGTH = 64;
const MAX_CODES = 32;
/** Epoch ms reach this in the year 33658: a time this large is in µs. */
const MICROSECONDS_FROM = 1e15;

type Result<E> = E | MalformedReason;

/** A symbol the serialiser can write unescaped and a subscription list can carry. */
function isSymbol(sym: string): boolean {
  if (sym.length > MAX_SYMBOL_LENGTH) return false;
  for (let k = 0; k < sym.length; k++) {
    const code = sym.charCodeAt(k);
    if (code < 0x21 || code > 0x7e || code === 0x22 || code === 0x5c || code === 0x2c) return false;
  }
  return true;
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isCodes(value: unknown): value is number[] {
  if (!Array.isArray(value) || value.length > MAX_CODES) return false;
  for (let k = 0; k < value.length; k++) if (!isId(value[k])) return false;
  return true;
}

/** `bad_price` / `bad_size` for a number out of range, `wrong_type` for a non-number. */
function amount(value: unknown, reason: 'bad_price' | 'bad_size'): MalformedReason | undefined {
  if (typeof value !== 'number') return 'wrong_type';
  return value >= 0 && value < Number.POSITIVE_INFINITY ? undefined : reason;
}

type Fields = Record<string, unknown>;

export class Normalizer {
  /** Frames seen, valid or not. */
  frames = 0;
  /** Frames the fast path took whole (the others were parsed). */
  scanned = 0;
  /** Valid events delivered, by type. */
  readonly received: Record<EventType, number> = { T: 0, Q: 0, A: 0, AM: 0, LULD: 0 };
  readonly malformed: Record<MalformedReason, number> = Object.fromEntries(
    MALFORMED_REASONS.map((reason) => [reason, 0]),
  ) as Record<MalformedReason, number>;

  readonly #sink: NormalizedSink;
  readonly #maxFrameBytes: number;
  /** Indexed by tape: whether the catalog licenses it. */
  readonly #tapes: boolean[] = [];
  /** Tape by symbol, for aggregates (which carry no tape); only kept when aggregates are expected. */
  readonly #symbolTapes: Map<string, Tape> | undefined;
  readonly #scanner: FrameScanner | undefined;
  readonly #now: () => number;
  readonly #maxClockSkewMs: number;
  /** The latest vendor time accepted in the frame being read: its clock reading plus the skew. */
  #latest = 0;

  constructor(options: NormalizerOptions, sink: NormalizedSink) {
    this.#sink = sink;
    this.#maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
    this.#now = options.now ?? Date.now;
    this.#maxClockSkewMs = options.maxClockSkewMs ?? 5_000;
    for (const tape of options.tapes) this.#tapes[tape] = true;
    const symbolTapes = options.aggregates ? new Map<string, Tape>() : undefined;
    this.#symbolTapes = symbolTapes;
    if (sink.encoded !== undefined) {
      this.#scanner = new FrameScanner({
        licensed: this.#tapes,
        tapeOf: symbolTapes && ((sym) => symbolTapes.get(sym)),
      });
    }
  }

  /** One WebSocket message as received: text, or a binary payload (which Polygon never sends). */
  frame(data: unknown): void {
    this.frames++;
    if (typeof data !== 'string') {
      this.malformed.binary_frame++;
      return;
    }
    if (data.length > this.#maxFrameBytes) {
      this.malformed.oversized++;
      return;
    }
    // Once per frame, so the per-event cost of the bound is one comparison.
    this.#latest = this.#now() + this.#maxClockSkewMs;
    if (this.#scanner?.scan(data)) {
      this.#deliverScanned(this.#scanner);
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      this.malformed.invalid_json++;
      return;
    }
    if (!Array.isArray(parsed)) {
      this.malformed.not_array++;
      return;
    }
    for (let k = 0; k < parsed.length; k++) this.#element(parsed[k]);
  }

  /** Counts a frame rejected before it reached `frame` (the socket refused it as too large). */
  count(reason: MalformedReason): void {
    this.frames++;
    this.malformed[reason]++;
  }

  /** What the reference path below would do for the frame the scanner just took, in the same order. */
  #deliverScanned(scanner: FrameScanner): void {
    this.scanned++;
    this.malformed.unknown_tape += scanner.unknownTapes;
    const { types, tapes, syms, times, jsons } = scanner;
    const symbolTapes = this.#symbolTapes;
    const sink = this.#sink;
    const latest = this.#latest;
    for (let k = 0; k < scanner.count; k++) {
      const type = types[k]!;
      const tape = tapes[k]!;
      if (symbolTapes !== undefined && (type === 'T' || type === 'Q')) symbolTapes.set(syms[k]!, tape);
      const t = times[k]!;
      if (t > latest) {
        this.malformed.future_time++;
        continue;
      }
      this.received[type]++;
      sink.encoded?.(type, tape, syms[k]!, t, jsons[k]!);
    }
  }

  #element(value: unknown): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.malformed.not_object++;
      return;
    }
    const fields = value as Fields;
    const ev = fields.ev;
    if (ev === 'status') {
      this.#status(fields);
      return;
    }
    if (ev === 'LULD') {
      this.#luldElement(fields);
      return;
    }
    if (ev !== 'Q' && ev !== 'T' && ev !== 'A' && ev !== 'AM') {
      this.malformed.unknown_event++;
      return;
    }
    const sym = fields.sym;
    if (typeof sym !== 'string' || sym.length === 0) {
      this.malformed.missing_sym++;
      return;
    }
    if (!isSymbol(sym)) {
      this.malformed.bad_symbol++;
      return;
    }
    if (ev === 'Q' || ev === 'T') {
      const event = ev === 'Q' ? this.#quote(fields, sym) : this.#trade(fields, sym);
      if (typeof event === 'string') {
        this.malformed[event]++;
        return;
      }
      // The tape is learnt even from an event dropped for its time, as the fast path does.
      this.#symbolTapes?.set(sym, event.z);
      if (event.t > this.#latest) {
        this.malformed.future_time++;
        return;
      }
      this.received[ev]++;
      this.#sink.event(event, event.z);
      return;
    }
    const event = this.#aggregate(fields, ev, sym);
    if (typeof event === 'string') {
      this.malformed[event]++;
      return;
    }
    const tape = this.#symbolTapes?.get(sym);
    if (tape === undefined) {
      this.malformed.unknown_tape++;
      return;
    }
    if (event.e > this.#latest) {
      this.malformed.future_time++;
      return;
    }
    this.received[ev]++;
    this.#sink.event(event, tape);
  }

  /** An LULD band: rare (a few a second market-wide), so it always takes this path, never the scanner's. */
  #luldElement(fields: Fields): void {
    const sym = fields.T;
    if (typeof sym !== 'string' || sym.length === 0) {
      this.malformed.missing_sym++;
      return;
    }
    if (!isSymbol(sym)) {
      this.malformed.bad_symbol++;
      return;
    }
    const event = this.#luld(fields, sym);
    if (typeof event === 'string') {
      this.malformed[event]++;
      return;
    }
    if (event.t > this.#latest) {
      this.malformed.future_time++;
      return;
    }
    this.received.LULD++;
    this.#sink.event(event, event.z);
  }

  #luld(f: Fields, sym: string): Result<Luld> {
    const { h, l, i, q } = f;
    let { t } = f;
    if (!isId(t) || !isId(q)) return 'wrong_type';
    // Polygon documents `t` in ms but its own example shows µs: a µs stamp is brought to ms, so
    // the delay line holds it for the product's delay and not for ever.
    if (t >= MICROSECONDS_FROM) t = Math.floor(t / 1000);
    // Polygon's documentation sends the indicators as a list, its client library types them as one number.
    const codes = isId(i) ? [i] : i === undefined ? [] : i;
    if (!isCodes(codes)) return 'wrong_type';
    const bad = amount(h, 'bad_price') ?? amount(l, 'bad_price');
    if (bad !== undefined) return bad;
    const z = this.#tape(f.z);
    if (typeof z === 'string') return z;
    return { ev: 'LULD', T: sym, h: h as number, l: l as number, i: codes, z, t: t as number, q };
  }

  #status(fields: Fields): void {
    const { status, message } = fields;
    if (typeof status !== 'string') {
      this.malformed.wrong_type++;
      return;
    }
    this.#sink.status(status, typeof message === 'string' ? message : '');
  }

  #tape(z: unknown): Result<Tape> {
    if (!isId(z)) return 'wrong_type';
    return this.#tapes[z] === true ? (z as Tape) : 'unknown_tape';
  }

  #trade(f: Fields, sym: string): Result<Trade> {
    const { x, i, p, s, c, t, q } = f;
    if (!isId(x) || typeof i !== 'string' || i.length > MAX_TRADE_ID_LENGTH || !isId(t) || !isId(q)) {
      return 'wrong_type';
    }
    if (c !== undefined && !isCodes(c)) return 'wrong_type';
    const bad = amount(p, 'bad_price') ?? amount(s, 'bad_size');
    if (bad !== undefined) return bad;
    const z = this.#tape(f.z);
    if (typeof z === 'string') return z;
    return { ev: 'T', sym, x, i, z, p: p as number, s: s as number, c: c as number[] | undefined, t, q };
  }

  #quote(f: Fields, sym: string): Result<Quote> {
    const { bx, bp, bs, ax, ap, as, c, i, t, q } = f;
    if (!isId(bx) || !isId(ax) || !isId(t) || !isId(q)) return 'wrong_type';
    if ((c !== undefined && !isId(c)) || (i !== undefined && !isCodes(i))) return 'wrong_type';
    const bad =
      amount(bp, 'bad_price') ?? amount(ap, 'bad_price') ?? amount(bs, 'bad_size') ?? amount(as, 'bad_size');
    if (bad !== undefined) return bad;
    const z = this.#tape(f.z);
    if (typeof z === 'string') return z;
    return {
      ev: 'Q',
      sym,
      bx,
      bp: bp as number,
      bs: bs as number,
      ax,
      ap: ap as number,
      as: as as number,
      c: c as number | undefined,
      i: i as number[] | undefined,
      t,
      q,
      z,
    };
  }

  #aggregate(f: Fields, ev: 'A' | 'AM', sym: string): Result<Aggregate> {
    const { v, av, op, vw, o, c, h, l, a, z, s, e, otc } = f;
    if (!isId(s) || !isId(e) || (otc !== undefined && typeof otc !== 'boolean')) return 'wrong_type';
    const bad =
      amount(op, 'bad_price') ??
      amount(vw, 'bad_price') ??
      amount(o, 'bad_price') ??
      amount(c, 'bad_price') ??
      amount(h, 'bad_price') ??
      amount(l, 'bad_price') ??
      amount(a, 'bad_price') ??
      amount(v, 'bad_size') ??
      amount(av, 'bad_size') ??
      amount(z, 'bad_size');
    if (bad !== undefined) return bad;
    return { ev, sym, v, av, op, vw, o, c, h, l, a, z, s, e, otc } as Aggregate;
  }
}
