import { describe, expect, it } from 'vitest';
import { BarBuilder, type StoredBar } from '../../ingest/bars.js';
import type { Aggregate } from '../../ingest/index.js';
import { tradingDayNamed, tradingDayOf } from '../../ingest/trading-day.js';

/** 10:00 New York on 2026-12-01, a minute boundary. */
const T0 = Date.UTC(2026, 11, 1, 15, 0, 0);

function builder(graceMs = 200) {
  const bars: Array<{ bar: Aggregate; stored: StoredBar }> = [];
  const b = new BarBuilder({ graceMs, sink: { bar: (bar, _tape, stored) => bars.push({ bar, stored }) } });
  return { b, bars, sym: b.symbol('XYZ', 3) };
}

/** [ms after T0, price, size, conditions] */
const SEQUENCE: Array<[number, number, number, number[]]> = [
  [100, 10.0, 100, []], // regular: everything
  [300, 10.5, 50, [37]], // odd lot: volume only
  [700, 9.8, 200, [14, 41]], // sweep + trade-through exempt: everything
  [900, 11.0, 10, [12]], // Form T: volume only
  [1_200, 10.2, 300, [32]], // sold out of sequence: high/low and volume, not open/close
  [1_500, 10.1, 100, []],
  [2_500, 10.3, 100, [15]], // market center official close: nothing
  [61_000, 10.4, 100, []], // next minute
];

describe('bar builder', () => {
  it('builds second and minute bars from a known trade sequence as the hand-computed table says', () => {
    const { b, bars, sym } = builder();
    for (const [dt, p, s, c] of SEQUENCE) b.trade(sym, 3, T0 + dt, p, s, c);
    expect(bars.map(({ bar }) => bar)).toEqual([
      // second 0: o 10.00 (first o/c trade), h 10.00, l 9.80, c 9.80; v = 100+50+200+10
      {
        ev: 'A',
        sym: 'XYZ',
        v: 360,
        av: 360,
        op: 10,
        vw: 9.9861,
        o: 10,
        c: 9.8,
        h: 10,
        l: 9.8,
        a: 9.9861,
        z: 90,
        s: T0,
        e: T0 + 1_000,
        otc: undefined,
      },
      // second 1: the out-of-sequence trade sets h/l only; o = c = 10.10
      {
        ev: 'A',
        sym: 'XYZ',
        v: 400,
        av: 760,
        op: 10,
        vw: 10.175,
        o: 10.1,
        c: 10.1,
        h: 10.2,
        l: 10.1,
        a: 10.0855,
        z: 200,
        s: T0 + 1_000,
        e: T0 + 2_000,
        otc: undefined,
      },
      // second 2 held only the official-close print: no bar
      // minute 0: closed by the next minute's trade
      {
        ev: 'AM',
        sym: 'XYZ',
        v: 760,
        av: 760,
        op: 10,
        vw: 10.0855,
        o: 10,
        c: 10.1,
        h: 10.2,
        l: 9.8,
        a: 10.0855,
        z: 127,
        s: T0,
        e: T0 + 60_000,
        otc: undefined,
      },
    ]);
    expect(bars[2]?.stored).toEqual({
      t: T0,
      o: 10,
      h: 10.2,
      l: 9.8,
      c: 10.1,
      v: 760,
      vw: 10.0855,
      n: 6,
      av: 760,
      op: 10,
      a: 10.0855,
      dh: 10.2,
      dl: 9.8,
    });
  });

  it('closes windows on the clock only once their end is the grace behind it', () => {
    const { b, bars, sym } = builder(200);
    b.trade(sym, 3, T0 + 100, 10, 100, []);
    b.advance(T0 + 1_150);
    expect(bars).toHaveLength(0);
    b.advance(T0 + 1_200);
    expect(bars.map(({ bar }) => bar.ev)).toEqual(['A']);
    b.advance(T0 + 60_199);
    expect(bars).toHaveLength(1);
    b.advance(T0 + 60_200);
    expect(bars.map(({ bar }) => [bar.ev, bar.e])).toEqual([
      ['A', T0 + 1_000],
      ['AM', T0 + 60_000],
    ]);
  });

  it('counts a trade behind a bar already sent in the day only', () => {
    const { b, bars, sym } = builder();
    b.trade(sym, 3, T0 + 100, 10, 100, []);
    b.advance(T0 + 1_300);
    b.trade(sym, 3, T0 + 500, 12, 50, []); // late for second 0, still inside minute 0
    b.advance(T0 + 60_300);
    const minute = bars.find(({ bar }) => bar.ev === 'AM')?.bar;
    expect(bars.filter(({ bar }) => bar.ev === 'A')).toHaveLength(1);
    expect(minute).toMatchObject({ v: 150, h: 12, c: 12, av: 150 });
    b.trade(sym, 3, T0 + 30_000, 13, 10, []); // late for minute 0 too
    expect(b.state(sym)).toMatchObject({ av: 160, dh: 13, dc: 13 });
    b.advance(T0 + 120_000);
    expect(bars.filter(({ bar }) => bar.ev === 'AM')).toHaveLength(1);
  });

  it('rolls the day at New York midnight, keeping the day that ended as the previous day', () => {
    const { b, sym } = builder();
    b.trade(sym, 3, T0, 10, 100, []);
    b.trade(sym, 3, T0 + 1_000, 11, 100, [12]);
    const nextDay = tradingDayNamed('2026-12-02')!.start + 4 * 3_600_000; // 04:00 New York
    b.trade(sym, 3, nextDay, 12, 5, [12]);
    const state = b.state(sym);
    expect(state.date).toBe('2026-12-02');
    expect(state.prev).toEqual({ date: '2026-12-01', o: 10, h: 10, l: 10, c: 10, v: 200, vw: 10.5, n: 2 });
    expect(state).toMatchObject({ op: null, av: 5 });
  });

  it('lets a new leader continue the minute from the stored state', () => {
    const one = builder();
    for (const [dt, p, s, c] of SEQUENCE.slice(0, 4)) one.b.trade(one.sym, 3, T0 + dt, p, s, c);
    const state = JSON.parse(JSON.stringify(one.b.state(one.sym)));
    const two = builder();
    const fresh = new BarBuilder({ sink: { bar: (bar, _t, stored) => two.bars.push({ bar, stored }) } });
    fresh.restore(state, T0 + 1_100);
    const sym = fresh.symbol('XYZ', 3);
    for (const [dt, p, s, c] of SEQUENCE.slice(4)) fresh.trade(sym, 3, T0 + dt, p, s, c);
    const minute = two.bars.find(({ bar }) => bar.ev === 'AM')?.bar;
    expect(minute).toMatchObject({ o: 10, h: 10.2, l: 9.8, c: 10.1, v: 760, vw: 10.0855, av: 760, op: 10 });
  });

  it('dates days in New York, across clock changes', () => {
    expect(tradingDayOf(Date.UTC(2026, 11, 2, 1, 30)).date).toBe('2026-12-01');
    expect(tradingDayOf(Date.UTC(2023, 0, 3, 14)).start).toBe(1672722000000);
    const spring = tradingDayNamed('2026-03-08')!;
    expect(spring.end - spring.start).toBe(23 * 3_600_000);
    expect(tradingDayNamed('2026-02-30')).toBeUndefined();
  });
});
