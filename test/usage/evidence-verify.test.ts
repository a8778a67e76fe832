import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, canonicalJson } from '../../audit/index.js';
import { VERIFY_SCRIPT } from '../../usage/index.js';

/** verify.mjs as shipped in every pack: plain JavaScript, loaded as the auditor's Node loads it. */
const script = (await import(VERIFY_SCRIPT)) as { canonicalJson: (value: unknown) => string };

/** What each canonicalisation makes of a value: its text, or that it refuses it. */
function outcome(write: (value: unknown) => string, value: unknown): string {
  try {
    return write(value);
  } catch {
    return 'refused';
  }
}

describe("verify.mjs's canonical JSON", () => {
  it('agrees with the hub on awkward values', () => {
    const awkward: unknown[] = [
      { é: 1, z: 2, '\u{1F600}': 3, '\uFB01': 4, A: 5, '': 6 },
      [1, 1.5, -0, 1e21, 1e-7, 0.1 + 0.2, 100, 2 ** 53, 5e-324, Number.MAX_VALUE, -1e-7],
      'é€\u{1F600}"\\\n\t\u0001\u007f\u2028\u2029',
      { nested: { b: [null, true, false, { y: 'x', x: [] }], a: {} }, skipped: undefined },
      Object.assign(Object.create(null), { b: 1, a: 2 }),
      // Refused by both: not JSON, or not the same bytes everywhere.
      Number.NaN,
      Number.POSITIVE_INFINITY,
      [undefined],
      '\uD800',
      { '\uDC00': 1 },
      10n,
      new Date(0),
      new Map([['a', 1]]),
      () => 1,
      Symbol('s'),
    ];
    for (const value of awkward) {
      expect(outcome(script.canonicalJson, value)).toBe(outcome(canonicalJson, value));
    }
    expect(() => canonicalJson(Number.NaN)).toThrow(CanonicalJsonError);
  });

  it('agrees with the hub on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(script.canonicalJson(value)).toBe(canonicalJson(value));
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true, withMap: true }), (value) => {
        expect(outcome(script.canonicalJson, value)).toBe(outcome(canonicalJson, value));
      }),
      { numRuns: 500 },
    );
  });
});
