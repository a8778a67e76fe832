import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BatchWriter,
  type EventType,
  type MarketEvent,
  serializeEvent,
  type Tape,
} from '../../ingest/index.js';
import { Normalizer, type NormalizerOptions } from '../../ingest/normalize.js';
import { SyntheticMarket } from '../../ingest/synthetic.js';
import { bar, quote, trade, vendorEvent } from './events.js';

/**
 * One normaliser with the fast path (its sink takes client JSON) and one with the reference path
 * only (its sink takes just events), each encoding what it gets into one batch: the fast path must
 * never change a byte or a count.
 */
function paths(options: NormalizerOptions) {
  const fast = { writer: new BatchWriter(), statuses: [] as string[], encoded: 0 };
  const reference = { writer: new BatchWriter(), statuses: [] as string[] };
  const fastNormalizer = new Normalizer(options, {
    // Frames the scanner declines still arrive as events, as in the ingest pipeline.
    event: (event: MarketEvent, tape: Tape) => fast.writer.add(event, tape, serializeEvent(event)),
    encoded: (type: EventType, tape: Tape, sym: string, t: number, json: string) => {
      fast.encoded++;
      fast.writer.append(type, tape, sym, t, json);
    },
    status: (status, message) => fast.statuses.push(`${status}:${message}`),
  });
  const referenceNormalizer = new Normalizer(options, {
    event: (event: MarketEvent, tape: Tape) => reference.writer.add(event, tape, serializeEvent(event)),
    status: (status, message) => reference.statuses.push(`${status}:${message}`),
  });
  return {
    fast: fastNormalizer,
    /** Events delivered by the fast path. */
    get encoded() {
      return fast.encoded;
    },
    frame(data: unknown) {
      fastNormalizer.frame(data);
      referenceNormalizer.frame(data);
    },
    expectSame() {
      expect(fastNormalizer.malformed).toEqual(referenceNormalizer.malformed);
      expect(fastNormalizer.received).toEqual(referenceNormalizer.received);
      expect(fastNormalizer.frames).toBe(referenceNormalizer.frames);
      expect(fast.statuses).toEqual(reference.statuses);
      expect(fast.writer.take().equals(reference.writer.take())).toBe(true);
    },
  };
}

const options = fc.record({
  tapes: fc.constantFrom([1, 2, 3], [3], [1, 2]),
  aggregates: fc.boolean(),
  maxFrameBytes: fc.constant(64 * 1024),
  // Mostly a clock past every generated vendor time; sometimes one that some of them are ahead of.
  now: fc
    .oneof(
      { weight: 3, arbitrary: fc.constant(2 ** 46) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 45 }) },
    )
    .map((clock) => () => clock),
});

/** Number texts around the edges of what the fast path copies as written. */
const numberText = fc.oneof(
  fc.constantFrom(
    '0',
    '0.0',
    '1.50',
    '1e2',
    '1E+2',
    '-0',
    '-1',
    '0.000001',
    '0.0000001',
    '0.1',
    '123456789012345',
    '1234567890123456',
    '9007199254740993',
    '00',
    '01',
    '1.',
    '.5',
    '114.125',
    '99999999999999.9',
    '1e400',
    '100',
    '3',
    '4',
  ),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.nat().map(String),
);

/** Any value text a vendor field might hold, valid for the field or not. */
const valueText = fc.oneof(
  { weight: 4, arbitrary: numberText },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'null',
      'true',
      'false',
      '[]',
      '[1,2]',
      '[1.5]',
      '[0,01]',
      '[ 1]',
      '{}',
      '{"a":1}',
      '[[1]]',
      '"x"',
      '""',
      '"AAPL"',
      '"A\\u0042"',
      '"A,B"',
      '"a b"',
      '"é"',
      '"\\n"',
      '" 1"',
    ),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
);

/** Events as Polygon writes them: prices on a cent or tenth-of-a-cent grid, plain ids. */
const price = fc.integer({ min: 0, max: 10_000_000 }).map((n) => n / 1000);
const polygonEvent = fc.oneof(
  fc
    .record({
      sym: fc.constantFrom('AAPL', 'MSFT', 'BRK.A', 'X'),
      p: price,
      s: fc.nat(10_000),
      z: fc.constantFrom(1, 2, 3),
    })
    .map(({ sym, ...fields }) => trade(sym, fields)),
  fc
    .record({
      sym: fc.constantFrom('AAPL', 'MSFT', 'BRK.A', 'X'),
      bp: price,
      ap: price,
      z: fc.constantFrom(1, 2, 3),
    })
    .map(({ sym, ...fields }) => quote(sym, fields)),
  fc
    .record({ sym: fc.constantFrom('AAPL', 'MSFT', 'BRK.A', 'X'), vw: price, otc: fc.boolean() })
    .map(({ sym, ...fields }) => bar(sym, fields)),
);

const FIELD_NAMES = ['sym', 'x', 'i', 'z', 'p', 's', 'c', 't', 'q', 'bx', 'bp', 'bs', 'ax', 'ap', 'as'];

/**
 * A vendor event as text, as often valid as not: a valid event whose JSON is then edited — a
 * field's value replaced by some other text, a field dropped or repeated, the fields shuffled,
 * whitespace added, an unknown field inserted.
 */
const eventText = fc
  .tuple(
    fc.oneof({ weight: 5, arbitrary: polygonEvent }, { weight: 1, arbitrary: vendorEvent }),
    fc.array(
      fc.oneof(
        fc.record({ edit: fc.constant('replace' as const), field: fc.nat(), text: valueText }),
        fc.record({ edit: fc.constant('drop' as const), field: fc.nat() }),
        fc.record({ edit: fc.constant('repeat' as const), field: fc.nat(), text: valueText }),
        fc.record({ edit: fc.constant('shuffle' as const), seed: fc.nat() }),
        fc.record({ edit: fc.constant('space' as const), field: fc.nat() }),
        fc.record({
          edit: fc.constant('add' as const),
          field: fc.nat(),
          name: fc.constantFrom(...FIELD_NAMES, 'trfi', 'ev', 'status', ''),
          text: valueText,
        }),
      ),
      { maxLength: 2 },
    ),
    // Most events stay as the vendor wrote them, so many frames are whole enough for the fast path.
    fc.nat(2),
  )
  .map(([event, allEdits, keep]) => {
    const edits = keep === 0 ? allEdits : [];
    let fields: Array<[string, string]> = Object.entries(event).map(([k, v]) => [
      JSON.stringify(k),
      JSON.stringify(v),
    ]);
    let space = -1;
    for (const edit of edits) {
      const at = 'field' in edit ? edit.field % Math.max(1, fields.length) : 0;
      if (edit.edit === 'replace' && fields[at]) fields[at] = [fields[at][0], edit.text];
      if (edit.edit === 'drop') fields.splice(at, 1);
      if (edit.edit === 'repeat' && fields[at]) fields.splice(at + 1, 0, [fields[at][0], edit.text]);
      if (edit.edit === 'add') fields.splice(at, 0, [JSON.stringify(edit.name), edit.text]);
      if (edit.edit === 'space') space = at;
      if (edit.edit === 'shuffle') {
        const order = fields.map((f, k) => [((k + 1) * (edit.seed + 7)) % 101, f] as const);
        fields = order.sort((a, b) => a[0] - b[0]).map(([, f]) => f);
      }
    }
    return `{${fields.map(([k, v], n) => (n === space ? `${k} : ${v}` : `${k}:${v}`)).join(',')}}`;
  });

/** An element of a frame: mostly events, sometimes a status or something that is no event at all. */
const elementText = fc.oneof(
  { weight: 12, arbitrary: eventText },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"ev":"status","status":"auth_success","message":"authenticated"}',
      '{"ev":"status","message":"no status"}',
      '{"ev":"NOI","sym":"AAPL"}',
      '{"sym":"AAPL"}',
      '42',
      'null',
      '[]',
      '"Q"',
    ),
  },
);

/** Frame text, sometimes damaged the way a broken connection or a buggy vendor would. */
const frameText = fc
  .tuple(
    fc.array(elementText, { maxLength: 6 }),
    fc.oneof(
      { weight: 6, arbitrary: fc.constant('none') },
      { weight: 1, arbitrary: fc.constantFrom('truncate', 'object', 'trailing', 'space', 'binary') },
    ),
    fc.nat(),
  )
  .map(([elements, damage, n]): unknown => {
    const text = `[${elements.join(',')}]`;
    switch (damage) {
      case 'truncate':
        return text.slice(0, n % text.length);
      case 'object':
        return elements[0] ?? '{}';
      case 'trailing':
        return `${text}\n`;
      case 'space':
        return `[ ${elements.join(', ')} ]`;
      case 'binary':
        return Buffer.from(text);
      default:
        return text;
    }
  });

describe('fast path', () => {
  it('gives the same batches and the same counts as the reference path, for any frames', () => {
    let scanned = 0;
    let encoded = 0;
    fc.assert(
      fc.property(options, fc.array(frameText, { minLength: 1, maxLength: 6 }), (opts, frames) => {
        const both = paths(opts);
        for (const frame of frames) both.frame(frame);
        both.expectSame();
        scanned += both.fast.scanned;
        encoded += both.encoded;
      }),
      { numRuns: 3_000 },
    );
    // The property means little unless the fast path took a fair share of the frames and events.
    expect(scanned).toBeGreaterThan(1_000);
    expect(encoded).toBeGreaterThan(1_000);
  });

  it('gives the same batches for valid vendor events of every shape, mostly without parsing', () => {
    fc.assert(
      fc.property(options, fc.array(vendorEvent, { maxLength: 30 }), (opts, events) => {
        const both = paths(opts);
        // Each symbol's trade first, so bars have a tape when aggregates are expected.
        both.frame(JSON.stringify(events.map((e) => trade(String(e.sym), { z: 3 }))));
        both.frame(JSON.stringify(events));
        both.expectSame();
      }),
      { numRuns: 1_000 },
    );
  });

  it('takes every frame of the synthetic market, byte for byte as the reference path would', () => {
    const market = new SyntheticMarket({ symbols: 500, seed: 11 });
    const both = paths({ tapes: [1, 2, 3] });
    for (let k = 0; k < 200; k++) both.frame(market.frame(50, 1_700_000_000_000 + k));
    expect(both.fast.scanned).toBe(200);
    both.expectSame();
  });

  it("takes Polygon's documented messages, dropping fields clients do not get", () => {
    const both = paths({ tapes: [1, 2, 3], aggregates: true });
    both.frame(
      JSON.stringify([
        trade('MSFT', { trfi: 202, trft: 1536036818784 }),
        quote('MSFT'),
        bar('MSFT', { otc: true }),
        { ...bar('MSFT'), ev: 'A' },
      ]),
    );
    expect(both.fast.scanned).toBe(1);
    expect(both.fast.received).toEqual({ T: 1, Q: 1, A: 1, AM: 1, LULD: 0 });
    both.expectSame();
  });

  it('counts events on tapes the catalog does not license without leaving the fast path', () => {
    const both = paths({ tapes: [3] });
    both.frame(JSON.stringify([quote('NYSE', { z: 1 }), quote('NSDQ', { z: 3 }), bar('NSDQ')]));
    expect(both.fast.scanned).toBe(1);
    expect(both.fast.malformed.unknown_tape).toBe(2);
    both.expectSame();
  });

  it('drops events stamped beyond the clock bound without leaving the fast path', () => {
    const now = 1_800_000_000_000;
    const both = paths({ tapes: [1, 2, 3], aggregates: true, now: () => now });
    both.frame(
      JSON.stringify([
        quote('AHEAD', { t: now + 3_600_000 }),
        trade('AHEAD', { t: now + 5_001 }),
        bar('AHEAD', { e: now + 60_000 }),
        bar('AHEAD', { e: now }),
        quote('BOUND', { t: now + 5_000 }),
      ]),
    );
    expect(both.fast.scanned).toBe(1);
    expect(both.fast.malformed.future_time).toBe(3);
    expect(both.fast.received).toEqual({ T: 0, Q: 1, A: 0, AM: 1, LULD: 0 });
    both.expectSame();
  });

  it('leaves to the reference path what it cannot copy as written', () => {
    const declined = [
      JSON.stringify([quote('A', { bp: 1e21 })]),
      '[{"ev":"Q","sym":"A","bx":4,"bp":1.50,"bs":100,"ax":7,"ap":2,"as":1,"t":1,"q":1,"z":3}]',
      '[{"ev":"T","sym":"A\\u0042","x":4,"i":"1","z":3,"p":1,"s":1,"t":1,"q":1}]',
      JSON.stringify([trade('A', { i: 'é' })]),
      JSON.stringify([{ ev: 'status', status: 'connected', message: 'hi' }]),
      JSON.stringify([quote('A', { ap: -1 })]),
    ];
    for (const frame of declined) {
      const both = paths({ tapes: [1, 2, 3] });
      both.frame(frame);
      expect(both.fast.scanned).toBe(0);
      both.expectSame();
    }
  });
});
