/**
 * The fast path for vendor frames: one pass over a frame's bytes that checks every event and finds
 * its client JSON inside the frame itself, without JSON.parse, without building objects and
 * without turning numbers into text and back.
 *
 * Why it works: a Polygon event is a flat object whose client JSON (ingest/json.ts) is, field for
 * field, the vendor's own text — `"bp":114.125` is written back as `"bp":114.125` — minus any
 * fields we do not forward. So when the vendor's text is already in the form JSON.stringify would
 * write, the client JSON is a slice of the frame (or a few slices joined, when the vendor adds
 * fields or orders them differently), and a slice of a flat string costs no copying.
 *
 * Why it is safe: the scanner accepts a frame only when it is sure of the reference result
 * (ingest/normalize.ts), and otherwise declines the whole frame, which then takes the reference
 * path — JSON.parse, the field checks, serializeEvent. It accepts only a strict subset of JSON:
 * ASCII only, no whitespace, no escapes, `ev` the first key of every element, no repeated known
 * key, unknown fields holding scalars or flat arrays of scalars, and every known field valid for
 * the normaliser and already written the way JSON.stringify writes it:
 *
 * - integers (ids, times, sequence numbers, condition codes) of at most 15 digits with no leading
 *   zero, so they are safe integers and print as themselves;
 * - amounts in plain decimal notation, no leading zero, no trailing zero after the point, at
 *   most 15 significant digits and at most 5 zeros after `0.`: such a decimal is the shortest
 *   text of the double nearest to it (doubles tell 15-digit decimals apart), which is exactly
 *   what Number#toString prints, and it is never negative or infinite;
 * - strings of printable ASCII without `"` or `\`, which the serialiser writes unescaped;
 *   symbols are also checked as the normaliser does (1–32 characters, no `,`).
 *
 * Anything else — a status, a malformed element, a negative price, `1e2`, `114.10`, a nested
 * object, a non-ASCII character anywhere — declines the frame. The one malformed case it settles
 * itself is `unknown_tape` on an otherwise valid event, since a catalog that licenses only some
 * tapes would otherwise send every frame down the slow path. Nothing is delivered until the whole
 * frame has been scanned, so a declined frame leaves no trace and the reference path sees it
 * fresh. The property tests (test/ingest/scan.test.ts) hold both paths to the same batches and
 * the same counts for random valid and invalid frames.
 */
import type { EventType, Tape } from './event.js';

const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const NINE = 0x39;
const DOT = 0x2e;
const MINUS = 0x2d;

const MAX_SYMBOL_LENGTH = 32;
const MAX_TRADE_ID_LENGTH = 64;
const MAX_CODES = 32;
/** Digits a double tells apart, so a decimal of at most this many round-trips through Number. */
const MAX_DIGITS = 15;
/** Number#toString switches to exponent notation below 1e-6, i.e. after 5 zeros behind `0.`. */
const MAX_LEADING_FRACTION_ZEROS = 5;

/** What a known field must hold. */
const EV = 0;
const SYM = 1;
/** A non-negative safe integer. */
const ID = 2;
/** A non-negative finite number (price, size, volume). */
const AMOUNT = 3;
/** A list of at most 32 non-negative safe integers. */
const CODES = 4;
const TRADE_ID = 5;
/** A trade's or quote's tape: an ID whose value the scanner keeps. */
const TAPE = 6;
/** The vendor time (`t` of a tick, `e` of a bar): an ID whose value the scanner keeps. */
const TIME = 7;
const BOOLEAN = 8;

interface Layout {
  /** Field names in client order (serializeEvent's), which is also Polygon's. */
  names: readonly string[];
  kinds: readonly number[];
  /** Bit k set: field k must be present. */
  required: number;
  /** Packed field name (see `packKey`) → index in `names`. */
  index: Map<number, number>;
}

/** A key of up to 3 ASCII characters as one number; longer keys are never known fields. */
function packKey(name: string): number {
  let code = 0;
  for (let k = 0; k < name.length; k++) code = (code << 8) | name.charCodeAt(k);
  return (name.length << 24) | code;
}

function layout(fields: ReadonlyArray<[string, number]>, optional: readonly string[]): Layout {
  const names = fields.map(([name]) => name);
  let required = 0;
  for (let k = 0; k < names.length; k++) if (!optional.includes(names[k]!)) required |= 1 << k;
  return {
    names,
    kinds: fields.map(([, kind]) => kind),
    required,
    index: new Map(names.map((name, k) => [packKey(name), k])),
  };
}

const TRADE = layout(
  [
    ['ev', EV],
    ['sym', SYM],
    ['x', ID],
    ['i', TRADE_ID],
    ['z', TAPE],
    ['p', AMOUNT],
    ['s', AMOUNT],
    ['c', CODES],
    ['t', TIME],
    ['q', ID],
  ],
  ['c'],
);

const QUOTE_LAYOUT = layout(
  [
    ['ev', EV],
    ['sym', SYM],
    ['bx', ID],
    ['bp', AMOUNT],
    ['bs', AMOUNT],
    ['ax', ID],
    ['ap', AMOUNT],
    ['as', AMOUNT],
    ['c', ID],
    ['i', CODES],
    ['t', TIME],
    ['q', ID],
    ['z', TAPE],
  ],
  ['c', 'i'],
);

const BAR = layout(
  [
    ['ev', EV],
    ['sym', SYM],
    ['v', AMOUNT],
    ['av', AMOUNT],
    ['op', AMOUNT],
    ['vw', AMOUNT],
    ['o', AMOUNT],
    ['c', AMOUNT],
    ['h', AMOUNT],
    ['l', AMOUNT],
    ['a', AMOUNT],
    ['z', AMOUNT],
    ['s', ID],
    ['e', TIME],
    ['otc', BOOLEAN],
  ],
  ['otc'],
);

/** Polygon names the symbol `T` here. `i` is required: the client JSON always carries the list. */
const LULD_LAYOUT = layout(
  [
    ['ev', EV],
    ['T', SYM],
    ['h', AMOUNT],
    ['l', AMOUNT],
    ['i', CODES],
    ['z', TAPE],
    ['t', TIME],
    ['q', ID],
  ],
  [],
);

const PACKED: Layout[] = [TRADE, QUOTE_LAYOUT, BAR, LULD_LAYOUT];
const PACKED_KEYS = PACKED.map((l) => l.names.map(packKey));

const isDigit = (c: number) => c >= ZERO && c <= NINE;

export interface FrameScannerOptions {
  /** Indexed by tape: whether the catalog licenses it (the normaliser's table, shared). */
  licensed: readonly boolean[];
  /**
   * The tape a bar's symbol last traded or quoted on before this frame (undefined: unknown).
   * Absent when aggregates are not expected: every bar is then `unknown_tape`, as in the normaliser.
   */
  tapeOf?: (sym: string) => Tape | undefined;
}

/**
 * Scans whole frames. After `scan` returns true the frame's valid events sit in the staging
 * arrays, in frame order, and `unknownTapes` counts the events skipped for their tape; after it
 * returns false the staging arrays mean nothing and the frame must take the reference path.
 */
export class FrameScanner {
  /** Events staged by the last successful scan. */
  count = 0;
  unknownTapes = 0;
  readonly types: EventType[] = [];
  readonly tapes: Tape[] = [];
  readonly syms: string[] = [];
  /** Vendor time (`vendorTime`) of each staged event. */
  readonly times: number[] = [];
  /** Client JSON of each staged event, byte-identical to serializeEvent's. */
  readonly jsons: string[] = [];

  readonly #licensed: readonly boolean[];
  readonly #tapeOf: ((sym: string) => Tape | undefined) | undefined;
  /** The frame as UTF-8, followed by a 0 byte no rule accepts, so no read runs past the end. */
  #bytes: Buffer = Buffer.allocUnsafe(64 * 1024);
  /** Where each known field's `"key":value` starts and ends in the element being scanned. */
  readonly #starts = new Int32Array(16);
  readonly #ends = new Int32Array(16);
  /** The value of the last integer read. */
  #integer = 0;

  constructor(options: FrameScannerOptions) {
    this.#licensed = options.licensed;
    this.#tapeOf = options.tapeOf;
  }

  /** True when the whole frame was understood and its results staged. */
  scan(frame: string): boolean {
    this.count = 0;
    this.unknownTapes = 0;
    // UTF-8 needs at most 3 bytes per UTF-16 unit, so the frame always fits whole: a byte count
    // equal to the length then means every character was ASCII and byte offsets are string offsets.
    const room = frame.length * 3 + 1;
    if (this.#bytes.length < room) this.#bytes = Buffer.allocUnsafe(Math.max(room, this.#bytes.length * 2));
    const b = this.#bytes;
    const length = b.write(frame, 0, 'utf8');
    if (length !== frame.length) return false;
    b[length] = 0;
    if (b[0] !== OPEN_BRACKET) return false;
    let at = 1;
    if (b[at] === CLOSE_BRACKET) return at + 1 === length;
    for (;;) {
      at = this.#element(frame, at);
      if (at < 0) return false;
      const c = b[at];
      if (c === COMMA) at++;
      else return c === CLOSE_BRACKET && at + 1 === length;
    }
  }

  /** Scans the element at `open` (its `{`); the index just past it, or -1 to decline the frame. */
  #element(frame: string, open: number): number {
    const b = this.#bytes;
    // `{"ev":"`, then T, Q, A, AM or LULD, then `"`.
    if (
      b[open] !== OPEN_BRACE ||
      b[open + 1] !== QUOTE ||
      b[open + 2] !== 0x65 ||
      b[open + 3] !== 0x76 ||
      b[open + 4] !== QUOTE ||
      b[open + 5] !== COLON ||
      b[open + 6] !== QUOTE
    ) {
      return -1;
    }
    let type: EventType;
    let kind: number;
    let at = open + 8;
    switch (b[open + 7]) {
      case 0x54:
        type = 'T';
        kind = 0;
        break;
      case 0x51:
        type = 'Q';
        kind = 1;
        break;
      case 0x41:
        kind = 2;
        if (b[at] === 0x4d) {
          type = 'AM';
          at++;
        } else {
          type = 'A';
        }
        break;
      case 0x4c:
        if (b[at] !== 0x55 || b[at + 1] !== 0x4c || b[at + 2] !== 0x44) return -1;
        type = 'LULD';
        kind = 3;
        at += 3;
        break;
      default:
        return -1;
    }
    if (b[at] !== QUOTE) return -1;
    at++;
    const fields = PACKED[kind]!;
    const keys = PACKED_KEYS[kind]!;
    const starts = this.#starts;
    const ends = this.#ends;
    starts[0] = open + 1;
    ends[0] = at;
    let seen = 1;
    let next = 1;
    let tape = 0;
    let t = 0;
    while (b[at] === COMMA) {
      const keyAt = at + 1;
      if (b[keyAt] !== QUOTE) return -1;
      let k = keyAt + 1;
      let code = 0;
      let c = b[k]!;
      while (c !== QUOTE) {
        if (c < 0x20 || c > 0x7e || c === BACKSLASH) return -1;
        code = (code << 8) | c;
        c = b[++k]!;
      }
      const keyLength = k - keyAt - 1;
      if (b[k + 1] !== COLON) return -1;
      const valueAt = k + 2;
      let field = -1;
      if (keyLength >= 1 && keyLength <= 3) {
        code |= keyLength << 24;
        // Polygon sends fields in client order, so the next one is nearly always the expected one.
        field = next < keys.length && keys[next] === code ? next : (fields.index.get(code) ?? -1);
      }
      if (field < 0) {
        at = this.#skip(valueAt);
      } else {
        const bit = 1 << field;
        if (seen & bit) return -1;
        seen |= bit;
        at = this.#value(fields.kinds[field]!, valueAt);
        if (fields.kinds[field] === TAPE) tape = this.#integer;
        else if (fields.kinds[field] === TIME) t = this.#integer;
        starts[field] = keyAt;
        ends[field] = at;
        next = field + 1;
      }
      if (at < 0) return -1;
    }
    if (b[at] !== CLOSE_BRACE || (seen & fields.required) !== fields.required) return -1;
    const close = at;
    // `"sym":"` (`"T":"` for LULD) comes before the symbol, and the value ends with its closing quote.
    const sym = frame.slice(starts[1]! + fields.names[1]!.length + 4, ends[1]! - 1);
    if (kind === 2) {
      const known = this.#stagedTape(sym);
      if (known === undefined) {
        this.unknownTapes++;
        return close + 1;
      }
      tape = known;
    } else if (this.#licensed[tape] !== true) {
      this.unknownTapes++;
      return close + 1;
    }
    const n = this.count++;
    this.types[n] = type;
    this.tapes[n] = tape as Tape;
    this.syms[n] = sym;
    this.times[n] = t;
    this.jsons[n] = this.#json(frame, open, close, seen, fields.names.length);
    return close + 1;
  }

  /**
   * The client JSON: the present known fields in client order, each copied as the vendor wrote
   * it. Fields that follow each other in the frame are taken as one slice, so an element holding
   * exactly its client JSON is one slice of the frame.
   */
  #json(frame: string, open: number, close: number, seen: number, fields: number): string {
    const b = this.#bytes;
    const starts = this.#starts;
    const ends = this.#ends;
    // `ev` is the first key, so the first run starts at the element's `{`.
    let runStart = open;
    let runEnd = ends[0]!;
    let out = '';
    for (let f = 1; f < fields; f++) {
      if ((seen & (1 << f)) === 0) continue;
      const start = starts[f]!;
      if (start === runEnd + 1 && b[runEnd] === COMMA) {
        runEnd = ends[f]!;
      } else {
        out += `${frame.slice(runStart, runEnd)},`;
        runStart = start;
        runEnd = ends[f]!;
      }
    }
    if (runEnd === close) return out + frame.slice(runStart, close + 1);
    return `${out + frame.slice(runStart, runEnd)}}`;
  }

  /** A bar's tape: from the latest trade or quote of its symbol staged in this frame, else from before. */
  #stagedTape(sym: string): Tape | undefined {
    if (this.#tapeOf === undefined) return undefined;
    for (let n = this.count - 1; n >= 0; n--) {
      const type = this.types[n];
      if ((type === 'T' || type === 'Q') && this.syms[n] === sym) return this.tapes[n];
    }
    return this.#tapeOf(sym);
  }

  /** Reads a known field's value at `at`; the index just past it, or -1. */
  #value(kind: number, at: number): number {
    const b = this.#bytes;
    let end: number;
    switch (kind) {
      case ID:
      case TAPE:
      case TIME:
        end = this.#id(at);
        break;
      case AMOUNT:
        end = this.#amount(at);
        break;
      case SYM:
        end = this.#string(at, 0x21, MAX_SYMBOL_LENGTH);
        if (end === at + 2) return -1;
        break;
      case TRADE_ID:
        end = this.#string(at, 0x20, MAX_TRADE_ID_LENGTH);
        break;
      case CODES:
        end = this.#codes(at);
        break;
      case BOOLEAN:
        end = this.#literal(at);
        break;
      default:
        return -1;
    }
    // A known field's value must end where the element goes on or closes (`1.5` read as an id stops at `.`).
    if (end < 0) return -1;
    const c = b[end];
    return c === COMMA || c === CLOSE_BRACE ? end : -1;
  }

  /** A canonical non-negative integer of at most 15 digits; its value goes to `#integer`. */
  #id(at: number): number {
    const b = this.#bytes;
    let c = b[at]!;
    if (c === ZERO) {
      this.#integer = 0;
      return isDigit(b[at + 1]!) ? -1 : at + 1;
    }
    if (!isDigit(c)) return -1;
    let value = 0;
    let k = at;
    while (isDigit(c)) {
      value = value * 10 + (c - ZERO);
      c = b[++k]!;
    }
    if (k - at > MAX_DIGITS) return -1;
    this.#integer = value;
    return k;
  }

  /** A non-negative number already in the form Number#toString prints (see the file comment). */
  #amount(at: number): number {
    const b = this.#bytes;
    let k = at;
    let digits: number;
    if (b[k] === ZERO) {
      k++;
      if (isDigit(b[k]!)) return -1;
      digits = 0;
    } else {
      while (isDigit(b[k]!)) k++;
      digits = k - at;
      if (digits === 0) return -1;
    }
    if (b[k] === DOT) {
      k++;
      const fraction = k;
      if (digits === 0) {
        while (b[k] === ZERO) k++;
        if (k - fraction > MAX_LEADING_FRACTION_ZEROS) return -1;
      }
      const significant = k;
      while (isDigit(b[k]!)) k++;
      if (k === fraction || b[k - 1] === ZERO) return -1;
      digits += k - significant;
    }
    return digits <= MAX_DIGITS ? k : -1;
  }

  /** A string of ASCII from `lowest` to `~` without `"` or `\`, of at most `max` characters. */
  #string(at: number, lowest: number, max: number): number {
    const b = this.#bytes;
    if (b[at] !== QUOTE) return -1;
    let k = at + 1;
    let c = b[k]!;
    while (c !== QUOTE) {
      if (c < lowest || c > 0x7e || c === BACKSLASH || (lowest === 0x21 && c === COMMA)) return -1;
      c = b[++k]!;
    }
    return k - at - 1 <= max ? k + 1 : -1;
  }

  /** `[]` or `[id,id,…]` with at most 32 ids. */
  #codes(at: number): number {
    const b = this.#bytes;
    if (b[at] !== OPEN_BRACKET) return -1;
    let k = at + 1;
    if (b[k] === CLOSE_BRACKET) return k + 1;
    for (let count = 1; count <= MAX_CODES; count++) {
      k = this.#id(k);
      if (k < 0) return -1;
      if (b[k] === CLOSE_BRACKET) return k + 1;
      if (b[k] !== COMMA) return -1;
      k++;
    }
    return -1;
  }

  /** `true` or `false`. */
  #literal(at: number): number {
    const b = this.#bytes;
    if (b[at] === 0x74 && b[at + 1] === 0x72 && b[at + 2] === 0x75 && b[at + 3] === 0x65) return at + 4;
    if (
      b[at] === 0x66 &&
      b[at + 1] === 0x61 &&
      b[at + 2] === 0x6c &&
      b[at + 3] === 0x73 &&
      b[at + 4] === 0x65
    ) {
      return at + 5;
    }
    return -1;
  }

  /** An unknown field's value, which is dropped: a scalar or a flat array of scalars. */
  #skip(at: number): number {
    const b = this.#bytes;
    if (b[at] !== OPEN_BRACKET) return this.#scalar(at);
    let k = at + 1;
    if (b[k] === CLOSE_BRACKET) return k + 1;
    for (;;) {
      k = this.#scalar(k);
      if (k < 0) return -1;
      if (b[k] === CLOSE_BRACKET) return k + 1;
      if (b[k] !== COMMA) return -1;
      k++;
    }
  }

  /** A JSON string (no escapes), number, `true`, `false` or `null`. */
  #scalar(at: number): number {
    const b = this.#bytes;
    const c = b[at]!;
    if (c === QUOTE) return this.#string(at, 0x20, Number.POSITIVE_INFINITY);
    if (c === MINUS || isDigit(c)) return this.#number(at);
    if (c === 0x6e) return b[at + 1] === 0x75 && b[at + 2] === 0x6c && b[at + 3] === 0x6c ? at + 4 : -1;
    return this.#literal(at);
  }

  /** Any JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`. */
  #number(at: number): number {
    const b = this.#bytes;
    let k = at;
    if (b[k] === MINUS) k++;
    if (b[k] === ZERO) k++;
    else if (isDigit(b[k]!)) while (isDigit(b[k]!)) k++;
    else return -1;
    if (b[k] === DOT) {
      k++;
      if (!isDigit(b[k]!)) return -1;
      while (isDigit(b[k]!)) k++;
    }
    if (b[k] === 0x65 || b[k] === 0x45) {
      k++;
      if (b[k] === 0x2b || b[k] === MINUS) k++;
      if (!isDigit(b[k]!)) return -1;
      while (isDigit(b[k]!)) k++;
    }
    return k;
  }
}
