/**
 * LULD bands and halts (issue 16 item 5): Polygon's `{"ev":"LULD","T":…}` events are accepted,
 * rebuilt field by field, carried on the tick stream with their tape, and the fast path gives the
 * same client JSON as the reference path.
 */
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch, type FeedEvent, LULD_HALT, type Tape } from '../../ingest/index.js';
import { Normalizer } from '../../ingest/normalize.js';
import { SyntheticMarket } from '../../ingest/synthetic.js';

const NOW = 1_700_000_000_000;

function collect() {
  const events: Array<{ event: FeedEvent; tape: Tape }> = [];
  const encoded: string[] = [];
  const reference = new Normalizer(
    { tapes: [1, 2, 3], now: () => NOW },
    {
      event: (event, tape) => events.push({ event, tape }),
      status: () => {},
    },
  );
  const fast = new Normalizer(
    { tapes: [1, 2, 3], now: () => NOW },
    {
      event: () => {},
      encoded: (_type, _tape, _sym, _t, json) => encoded.push(json),
      status: () => {},
    },
  );
  return { events, encoded, reference, fast };
}

describe('LULD', () => {
  it("accepts Polygon's LULD event, drops unknown fields, and both paths agree byte for byte", () => {
    const { events, encoded, reference, fast } = collect();
    const frame = JSON.stringify([
      { ev: 'LULD', T: 'MSFT', h: 218.96, l: 198.11, i: [21], z: 3, t: NOW - 5, q: 290317, extra: 1 },
    ]);
    reference.frame(frame);
    fast.frame(frame);
    expect(events.map((e) => e.event)).toEqual([
      { ev: 'LULD', T: 'MSFT', h: 218.96, l: 198.11, i: [21], z: 3, t: NOW - 5, q: 290317 },
    ]);
    expect(fast.scanned).toBe(1);
    expect(encoded).toEqual([
      '{"ev":"LULD","T":"MSFT","h":218.96,"l":198.11,"i":[21],"z":3,"t":1699999999995,"q":290317}',
    ]);
    expect(reference.received.LULD).toBe(1);
  });

  it('takes a single indicator number and a microsecond time, and counts a band without a symbol or tape', () => {
    const { events, reference } = collect();
    reference.frame(
      JSON.stringify([
        { ev: 'LULD', T: 'TSLA', h: 10, l: 9, i: LULD_HALT, z: 3, t: (NOW - 1) * 1000, q: 1 },
        { ev: 'LULD', h: 10, l: 9, i: [], z: 3, t: NOW, q: 2 },
        { ev: 'LULD', T: 'TSLA', h: 10, l: 9, i: [], z: 7, t: NOW, q: 3 },
        { ev: 'LULD', T: 'TSLA', h: -1, l: 9, i: [], z: 3, t: NOW, q: 4 },
      ]),
    );
    expect(events.map((e) => e.event)).toEqual([
      { ev: 'LULD', T: 'TSLA', h: 10, l: 9, i: [17], z: 3, t: NOW - 1, q: 1 },
    ]);
    expect(reference.malformed).toMatchObject({ missing_sym: 1, unknown_tape: 1, bad_price: 1 });
  });

  it('travels on the tick stream with its symbol, tape and time', () => {
    const event: FeedEvent = { ev: 'LULD', T: 'IBM', h: 5, l: 4, i: [18], z: 1, t: NOW, q: 9 };
    const seen: unknown[] = [];
    decodeBatch(encodeBatch([{ event, tape: 1 }]), (type, tape, sym, t, json) =>
      seen.push([type, tape, sym, t, json.toString()]),
    );
    expect(seen).toEqual([
      ['LULD', 1, 'IBM', NOW, '{"ev":"LULD","T":"IBM","h":5,"l":4,"i":[18],"z":1,"t":1700000000000,"q":9}'],
    ]);
  });

  it('the synthetic market sends bands, halts and resumptions, the same for a seed', () => {
    const market = new SyntheticMarket({ symbols: 50, seed: 3 });
    const { events, reference } = collect();
    for (let k = 0; k < 1_000; k++) reference.frame(market.frame(50, NOW));
    const bands = events.map((e) => e.event).filter((e) => e.ev === 'LULD');
    expect(bands.length).toBeGreaterThan(40);
    expect(bands.some((e) => e.ev === 'LULD' && e.i.includes(17))).toBe(true);
    expect(bands.some((e) => e.ev === 'LULD' && e.i.includes(18))).toBe(true);
    for (const band of bands) if (band.ev === 'LULD') expect(band.h).toBeGreaterThan(band.l);
    expect(new SyntheticMarket({ symbols: 50, seed: 3 }).frame(2_000, NOW)).toBe(
      new SyntheticMarket({ symbols: 50, seed: 3 }).frame(2_000, NOW),
    );
  });
});
