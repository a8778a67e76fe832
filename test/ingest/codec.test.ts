import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BatchCursor,
  decodeBatch,
  encodeBatch,
  type MarketEvent,
  serializeEvent,
  symbolOf,
  type Tape,
  type TapedEvent,
  vendorTime,
} from '../../ingest/index.js';
import { Normalizer } from '../../ingest/normalize.js';
import { bar, quote, trade, vendorEvent } from './events.js';

/** Runs vendor events through the normaliser, as one frame. */
function normalise(events: unknown[]): TapedEvent[] {
  const out: TapedEvent[] = [];
  const normalizer = new Normalizer(
    // A clock past every generated vendor time: these tests are about the JSON, not the time bound.
    { tapes: [1, 2, 3], aggregates: true, now: () => 2 ** 46 },
    { event: (event: MarketEvent, tape: Tape) => out.push({ event, tape }), status: () => {} },
  );
  normalizer.frame(JSON.stringify(events));
  return out;
}

/** The client-visible fields of a vendor event: its known fields, in the vendor's order. */
const FIELDS: Record<string, readonly string[]> = {
  T: ['ev', 'sym', 'x', 'i', 'z', 'p', 's', 'c', 't', 'q'],
  Q: ['ev', 'sym', 'bx', 'bp', 'bs', 'ax', 'ap', 'as', 'c', 'i', 't', 'q', 'z'],
  A: ['ev', 'sym', 'v', 'av', 'op', 'vw', 'o', 'c', 'h', 'l', 'a', 'z', 's', 'e', 'otc'],
  AM: ['ev', 'sym', 'v', 'av', 'op', 'vw', 'o', 'c', 'h', 'l', 'a', 'z', 's', 'e', 'otc'],
};

describe('client JSON', () => {
  it('is exactly JSON.stringify of the normalised event, and parses back to it', () => {
    fc.assert(
      fc.property(vendorEvent, (vendor) => {
        // Bars need their symbol's tape from a trade or quote first.
        const [, normalised] = normalise([trade(String(vendor.sym)), vendor]);
        expect(normalised).toBeDefined();
        const event = normalised!.event;
        const json = serializeEvent(event);
        expect(json).toBe(JSON.stringify(event));
        expect(JSON.parse(json)).toEqual(event);
      }),
      { numRuns: 2_000 },
    );
  });

  it('keeps every field a client receives and drops anything else the vendor adds', () => {
    fc.assert(
      fc.property(vendorEvent, (generated) => {
        const vendor = generated as Record<string, unknown>;
        const [, normalised] = normalise([trade(String(vendor.sym)), vendor]);
        const sent = JSON.parse(serializeEvent(normalised!.event)) as Record<string, unknown>;
        const known = FIELDS[String(vendor.ev)]!;
        expect(Object.keys(sent)).toEqual(known.filter((field) => vendor[field] !== undefined));
        for (const field of known) expect(sent[field]).toEqual(vendor[field]);
      }),
      { numRuns: 1_000 },
    );
  });

  it('writes the well-known Polygon examples byte for byte', () => {
    const [t, q] = normalise([trade('MSFT', { trfi: 3, trft: 1 }), quote('MSFT')]);
    expect(serializeEvent(t!.event)).toBe(
      '{"ev":"T","sym":"MSFT","x":4,"i":"52983525029461","z":3,"p":114.125,"s":100,"c":[14,41],"t":1536036818784,"q":3681328}',
    );
    expect(serializeEvent(q!.event)).toBe(
      '{"ev":"Q","sym":"MSFT","bx":4,"bp":114.125,"bs":100,"ax":7,"ap":114.128,"as":160,"c":0,"i":[604],"t":1536036818784,"q":50385480,"z":3}',
    );
  });
});

describe('tick batch codec', () => {
  it('round-trips type, tape, symbol, vendor time and the client JSON of every event, in order', () => {
    fc.assert(
      fc.property(fc.array(vendorEvent, { minLength: 1, maxLength: 40 }), (vendors) => {
        const events = normalise(vendors.flatMap((v) => [trade(String(v.sym)), v]));
        const seen: Array<[string, number, string, number, string]> = [];
        decodeBatch(encodeBatch(events), (type, tape, sym, t, json) => {
          seen.push([type, tape, sym, t, json.toString('utf8')]);
        });
        expect(seen).toEqual(
          events.map(({ event, tape }) => [
            event.ev,
            tape,
            symbolOf(event),
            vendorTime(event),
            serializeEvent(event),
          ]),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('gives a bar the tape of its symbol and the end of its window as vendor time', () => {
    const events = normalise([quote('IBM', { z: 1 }), bar('IBM')]);
    const seen: Array<[string, number, number]> = [];
    decodeBatch(encodeBatch(events), (type, tape, _sym, t) => seen.push([type, tape, t]));
    expect(seen).toEqual([
      ['Q', 1, 1536036818784],
      ['AM', 1, 1536036878784],
    ]);
  });

  it('walks a batch with one reusable cursor, handing out views into the payload', () => {
    const payload = encodeBatch(normalise([quote('A'), trade('B'), quote('C')]));
    const cursor = new BatchCursor();
    const syms: string[] = [];
    for (cursor.reset(payload); cursor.next(); ) {
      syms.push(cursor.sym);
      expect(cursor.json().buffer).toBe(payload.buffer);
    }
    expect(syms).toEqual(['A', 'B', 'C']);
    cursor.reset(encodeBatch([]));
    expect(cursor.next()).toBe(false);
  });

  it('refuses a payload that is not a batch, or is cut short', () => {
    const payload = encodeBatch(normalise([quote('AAPL')]));
    expect(() => decodeBatch(Buffer.from('{"ev":"Q"}'), () => {})).toThrow(RangeError);
    expect(() => decodeBatch(payload.subarray(0, payload.length - 3), () => {})).toThrow(/truncated/);
  });
});
