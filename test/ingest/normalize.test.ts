import { describe, expect, it } from 'vitest';
import { MALFORMED_REASONS, type MarketEvent } from '../../ingest/index.js';
import { Normalizer } from '../../ingest/normalize.js';
import { SyntheticMarket } from '../../ingest/synthetic.js';
import { bar, quote, trade } from './events.js';

function normaliser(options: { aggregates?: boolean; tapes?: number[]; maxFrameBytes?: number } = {}) {
  const events: MarketEvent[] = [];
  const statuses: string[] = [];
  const normalizer = new Normalizer(
    {
      tapes: options.tapes ?? [1, 2, 3],
      aggregates: options.aggregates,
      maxFrameBytes: options.maxFrameBytes ?? 4096,
    },
    { event: (event) => events.push(event as MarketEvent), status: (status) => statuses.push(status) },
  );
  return { normalizer, events, statuses };
}

const frame = (...events: unknown[]) => JSON.stringify(events);

describe('normaliser', () => {
  it('delivers trades, quotes and statuses in frame order and counts them by type', () => {
    const { normalizer, events, statuses } = normaliser();
    normalizer.frame(
      frame({ ev: 'status', status: 'auth_success', message: 'authenticated' }, trade('AAPL'), quote('MSFT')),
    );
    expect(statuses).toEqual(['auth_success']);
    expect(events.map((e) => `${e.ev}.${e.sym}`)).toEqual(['T.AAPL', 'Q.MSFT']);
    expect(normalizer.received).toEqual({ T: 1, Q: 1, A: 0, AM: 0, LULD: 0 });
    expect(normalizer.frames).toBe(1);
  });

  // Each bad input next to a good event: the bad one is counted under its reason, the good one still arrives.
  const cases: Array<[string, (typeof MALFORMED_REASONS)[number], unknown]> = [
    ['a frame over the size limit', 'oversized', frame(quote('AAPL'), { pad: 'x'.repeat(5000) })],
    ['a binary message', 'binary_frame', Buffer.from('[]')],
    ['invalid JSON', 'invalid_json', '[{"ev":"Q",'],
    ['JSON that is not an array', 'not_array', '{"ev":"Q","sym":"AAPL"}'],
    ['an element that is not an object', 'not_object', frame(42)],
    ['an unknown event type', 'unknown_event', frame({ ev: 'NOI', sym: 'AAPL' })],
    ['an element without ev', 'unknown_event', frame({ sym: 'AAPL' })],
    ['an event without sym', 'missing_sym', frame(quote('AAPL', { sym: undefined }))],
    ['a numeric sym', 'missing_sym', frame(quote('AAPL', { sym: 7 }))],
    ['a symbol with a quote character', 'bad_symbol', frame(quote('AA"PL'))],
    ['a symbol too long', 'bad_symbol', frame(quote('A'.repeat(33)))],
    ['a price given as a string', 'wrong_type', frame(trade('AAPL', { p: '114.1' }))],
    ['an exchange id that is not an integer', 'wrong_type', frame(quote('AAPL', { bx: 1.5 }))],
    ['a missing time', 'wrong_type', frame(trade('AAPL', { t: undefined }))],
    ['conditions that are not integers', 'wrong_type', frame(trade('AAPL', { c: ['x'] }))],
    ['a status without a status', 'wrong_type', frame({ ev: 'status', message: 'hi' })],
    [
      'an infinite price',
      'bad_price',
      '[{"ev":"T","sym":"AAPL","x":4,"i":"1","z":3,"p":1e400,"s":100,"t":1,"q":1}]',
    ],
    ['a negative price', 'bad_price', frame(quote('AAPL', { ap: -1 }))],
    ['a negative size', 'bad_size', frame(trade('AAPL', { s: -100 }))],
    ['a tape the catalog does not license', 'unknown_tape', frame(quote('AAPL', { z: 4 }))],
    ['a bar whose tape is unknown', 'unknown_tape', frame(bar('NEVERSEEN'))],
  ];

  it.each(cases)('skips %s, counted as %s, and keeps going', (_what, reason, bad) => {
    const { normalizer, events } = normaliser();
    normalizer.frame(bad);
    normalizer.frame(frame(quote('GOOD')));
    expect(normalizer.malformed[reason]).toBe(1);
    const others = MALFORMED_REASONS.filter((r) => r !== reason).map((r) => normalizer.malformed[r]);
    expect(others.every((n) => n === 0)).toBe(true);
    expect(events.map((e) => e.sym)).toEqual(['GOOD']);
  });

  it('skips only the bad element of a frame, keeping its neighbours', () => {
    const { normalizer, events } = normaliser();
    normalizer.frame(frame(quote('A'), quote('B', { bp: 'x' }), null, trade('C')));
    expect(events.map((e) => e.sym)).toEqual(['A', 'C']);
    expect(normalizer.malformed.wrong_type).toBe(1);
    expect(normalizer.malformed.not_object).toBe(1);
  });

  it('keeps only the tapes the catalog licenses', () => {
    const { normalizer, events } = normaliser({ tapes: [3] });
    normalizer.frame(frame(quote('NYSE', { z: 1 }), quote('NSDQ', { z: 3 })));
    expect(events.map((e) => e.sym)).toEqual(['NSDQ']);
    expect(normalizer.malformed.unknown_tape).toBe(1);
  });

  it('gives bars the tape of their symbol once a trade or quote showed it', () => {
    const { normalizer, events } = normaliser({ aggregates: true });
    normalizer.frame(frame(bar('IBM'), quote('IBM', { z: 1 }), bar('IBM')));
    expect(events.map((e) => e.ev)).toEqual(['Q', 'AM']);
    expect(normalizer.malformed.unknown_tape).toBe(1);
  });
});

describe('synthetic market', () => {
  it('produces Polygon frames the normaliser accepts whole, on all three tapes, about 80 % quotes', () => {
    const market = new SyntheticMarket({ symbols: 300, seed: 7 });
    const { normalizer, events } = normaliser({ maxFrameBytes: 1024 * 1024 });
    for (let k = 0; k < 200; k++) normalizer.frame(market.frame(50, 1_700_000_000_000 + k));
    expect(Object.values(normalizer.malformed).every((n) => n === 0)).toBe(true);
    expect(events).toHaveLength(10_000);
    const tapes = new Set(events.flatMap((e) => (e.ev === 'T' || e.ev === 'Q' ? [e.z] : [])));
    expect([...tapes].sort()).toEqual([1, 2, 3]);
    const quotes = events.filter((e) => e.ev === 'Q').length / events.length;
    expect(quotes).toBeGreaterThan(0.75);
    expect(quotes).toBeLessThan(0.85);
    for (const e of events) {
      if (e.ev === 'Q') expect(e.ap).toBeGreaterThan(e.bp);
      if (e.ev === 'T') expect(e.p).toBeGreaterThan(0);
    }
    expect(new Set(events.map((e) => e.sym)).size).toBeGreaterThan(250);
  });

  it('is deterministic for a seed', () => {
    const a = new SyntheticMarket({ symbols: 50, seed: 42 });
    const b = new SyntheticMarket({ symbols: 50, seed: 42 });
    expect(a.frame(100, 1)).toBe(b.frame(100, 1));
    expect(new SyntheticMarket({ symbols: 50, seed: 43 }).frame(100, 1)).not.toBe(a.frame(100, 1));
  });
});
