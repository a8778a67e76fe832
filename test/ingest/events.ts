/** Vendor-shaped events and helpers shared by the ingest tests. */
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { decodeBatch } from '../../ingest/index.js';
import type { TickStreams } from '../../platform/bus/index.js';

export function trade(sym: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ev: 'T',
    sym,
    x: 4,
    i: '52983525029461',
    z: 3,
    p: 114.125,
    s: 100,
    c: [14, 41],
    t: 1536036818784,
    q: 3681328,
    ...overrides,
  };
}

export function quote(sym: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ev: 'Q',
    sym,
    bx: 4,
    bp: 114.125,
    bs: 100,
    ax: 7,
    ap: 114.128,
    as: 160,
    c: 0,
    i: [604],
    t: 1536036818784,
    q: 50385480,
    z: 3,
    ...overrides,
  };
}

export function bar(sym: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    ev: 'AM',
    sym,
    v: 10204,
    av: 200304,
    op: 114.04,
    vw: 114.404,
    o: 114.11,
    c: 114.14,
    h: 114.19,
    l: 114.09,
    a: 114.1314,
    z: 23,
    s: 1536036818784,
    e: 1536036878784,
    ...overrides,
  };
}

/** Polls `check` until it holds, failing with `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await sleep(20);
  }
}

const SYMBOL_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-/:^+*$#!'];
const symbol = fc.string({ unit: fc.constantFrom(...SYMBOL_CHARS), minLength: 1, maxLength: 32 });
/** Non-negative doubles without -0 (which JSON cannot round-trip). */
const amount = fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }).map((n) => n + 0);
const id = fc.nat({ max: 2 ** 40 });
const codes = fc.array(fc.nat({ max: 1000 }), { maxLength: 8 });
const tape = fc.constantFrom(1, 2, 3);
const time = fc.integer({ min: 1, max: 2 ** 45 });
const extras = fc.dictionary(fc.constantFrom('trfi', 'trft', 'zz', 'extra', '__proto_x'), fc.jsonValue(), {
  maxKeys: 3,
});

/** Vendor-shaped trades, quotes and bars, with optional fields left out at random and unknown extra fields added. */
export const vendorEvent = fc
  .oneof(
    fc.record(
      {
        ev: fc.constant('T'),
        sym: symbol,
        x: id,
        i: fc.string({ unit: 'binary', maxLength: 32 }),
        z: tape,
        p: amount,
        s: amount,
        c: codes,
        t: time,
        q: id,
      },
      { requiredKeys: ['ev', 'sym', 'x', 'i', 'z', 'p', 's', 't', 'q'] },
    ),
    fc.record(
      {
        ev: fc.constant('Q'),
        sym: symbol,
        bx: id,
        bp: amount,
        bs: amount,
        ax: id,
        ap: amount,
        as: amount,
        c: id,
        i: codes,
        t: time,
        q: id,
        z: tape,
      },
      { requiredKeys: ['ev', 'sym', 'bx', 'bp', 'bs', 'ax', 'ap', 'as', 't', 'q', 'z'] },
    ),
    fc.record(
      {
        ev: fc.constantFrom('A', 'AM'),
        sym: symbol,
        v: amount,
        av: amount,
        op: amount,
        vw: amount,
        o: amount,
        c: amount,
        h: amount,
        l: amount,
        a: amount,
        z: amount,
        s: time,
        e: time,
        otc: fc.boolean(),
      },
      { requiredKeys: ['ev', 'sym', 'v', 'av', 'op', 'vw', 'o', 'c', 'h', 'l', 'a', 'z', 's', 'e'] },
    ),
  )
  .chain((event) => extras.map((extra) => ({ ...extra, ...event })));

/** Every event published on the bus's tick streams, as client JSON, collected in the background. */
export function watchTicks(ticks: TickStreams): { events: string[]; close(): Promise<void> } {
  const reader = ticks.reader({ from: 'earliest' });
  const events: string[] = [];
  let open = true;
  const loop = (async () => {
    while (open) {
      const entries = await reader.next({ count: 100, blockMs: 50 });
      for (const entry of entries)
        decodeBatch(entry.payload, (_t, _z, _s, _time, json) => events.push(json.toString()));
    }
  })();
  return {
    events,
    async close() {
      open = false;
      await loop;
      await reader.close();
    },
  };
}
