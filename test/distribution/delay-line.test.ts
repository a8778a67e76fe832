import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DelayBudget, DelayLine, DelayLines, type Slot } from '../../distribution/delay-line.js';

const json = (text: string) => Buffer.from(text);

describe('delay line', () => {
  it('never releases an event before its vendor time plus the delay', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            // Now and then a vendor time an hour ahead, which must not disturb the others.
            t: fc.oneof(
              { weight: 20, arbitrary: fc.integer({ min: 0, max: 20_000 }) },
              { weight: 1, arbitrary: fc.integer({ min: 3_600_000, max: 3_700_000 }) },
            ),
            type: fc.integer({ min: 0, max: 3 }),
            sym: fc.constantFrom('A', 'B', 'C', 'D'),
          }),
          { maxLength: 300 },
        ),
        fc.array(fc.integer({ min: 0, max: 40_000 }), { maxLength: 30 }),
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 0, max: 5_000 }),
        (events, checks, intervalMs, delayMs) => {
          const line = new DelayLine(delayMs, intervalMs, new DelayBudget(1 << 30));
          const nows = [...checks].sort((a, b) => a - b);
          let next = 0;
          const visit = (slot: Slot) => {
            expect(nows[next - 1] as number).toBeGreaterThanOrEqual(slot.t + delayMs);
          };
          for (const [index, event] of events.entries()) {
            line.add(event.type, event.sym, event.t, json(`{"n":${index}}`));
            if (next < nows.length && index % 10 === 9) line.release(nows[next++] as number, visit);
          }
          while (next < nows.length) line.release(nows[next++] as number, visit);
        },
      ),
    );
  });

  it('keeps the latest event per type and symbol in each interval, whatever the arrival order', () => {
    const line = new DelayLine(1_000, 100, new DelayBudget(1 << 20));
    line.add(1, 'AAPL', 1_010, json('"q1"'));
    line.add(1, 'AAPL', 1_050, json('"q3"'));
    line.add(1, 'AAPL', 1_030, json('"q2"'));
    line.add(0, 'AAPL', 1_020, json('"t1"'));
    line.add(1, 'AAPL', 1_150, json('"q4"'));
    const released: string[] = [];
    const visit = (slot: Slot) => released.push(slot.buf.toString('utf8', 0, slot.len));
    expect(line.release(2_049, visit)).toBe(0);
    expect(line.release(2_050, visit)).toBe(2);
    expect(released.sort()).toEqual(['"q3"', '"t1"']);
    expect(line.release(2_150, visit)).toBe(1);
    expect(released.at(-1)).toBe('"q4"');
    expect(line.buckets).toBe(0);
  });

  it('holds back only the event stamped an hour ahead: the later events of other symbols are released on time', () => {
    const line = new DelayLine(1_000, 100, new DelayBudget(1 << 20));
    const released: string[] = [];
    const visit = (slot: Slot) => released.push(slot.sym);
    line.add(1, 'A', 1_000, json('"a"'));
    line.add(1, 'AHEAD', 1_000 + 3_600_000, json('"ahead"'));
    line.add(1, 'B', 1_200, json('"b"'));
    line.add(1, 'C', 1_500, json('"c"'));
    line.add(0, 'D', 900, json('"d"'));
    line.release(2_200, visit);
    expect(released).toEqual(['D', 'A', 'B']);
    expect(line.release(2_499, visit)).toBe(0);
    line.release(2_500, visit);
    expect(released).toEqual(['D', 'A', 'B', 'C']);
    expect(line.due).toBe(1_000 + 3_600_000 + 1_000);
  });

  it('stays within its memory budget, widening its interval and counting what it cannot hold', () => {
    const budget = new DelayBudget(64 * 1024);
    const line = new DelayLine(900_000, 1_000, budget);
    const event = json(`{"ev":"Q","sym":"X","bp":1,"ap":2,"t":0,"pad":"${'x'.repeat(100)}"}`);
    let t = 0;
    for (let second = 0; second < 900; second++) {
      for (let sym = 0; sym < 50; sym++) {
        t = second * 1_000 + sym;
        line.add(1, `S${sym}`, t, event);
        expect(budget.used).toBeLessThanOrEqual(budget.max);
      }
    }
    expect(line.buckets).toBeLessThan(100);
    expect(budget.dropped).toBeGreaterThan(0);
    const held = budget.entries;
    let released = 0;
    line.release(t + 900_000 + 200_000, () => released++);
    expect(released).toBe(held);
    expect(budget.used).toBe(0);
    expect(budget.entries).toBe(0);
  });
});

describe('when delayed data starts', () => {
  it('is a whole delay away on a fresh line, the oldest held event plus the delay once ticks arrive, and said no more once released', () => {
    let now = 1_000_000;
    const released: string[] = [];
    const lines = new DelayLines({
      delays: [15_000],
      intervalMs: 1_000,
      maxBytes: 1 << 20,
      now: () => now,
      sink: { offerDelayed: (_product, slot) => released.push(slot.sym), endDelayed: () => undefined },
    });
    const QUOTE = 1;
    expect(lines.firstDelayedAt(0, QUOTE, 'AAPL', now)).toBe(now + 15_000);
    lines.lines[0]?.add(QUOTE, 'AAPL', now - 2_000, json('{"ev":"Q"}'));
    expect(lines.firstDelayedAt(0, QUOTE, 'AAPL', now)).toBe(now - 2_000 + 15_000);
    now += 14_000;
    lines.releaseDue();
    expect(released).toEqual(['AAPL']);
    expect(lines.firstDelayedAt(0, QUOTE, 'AAPL', now)).toBeUndefined();
    lines.stop();
  });
});
