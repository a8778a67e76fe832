import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sealRecord, toAuditRecord } from '../../audit/chain.js';
import { CanonicalJsonError, canonicalJson, GENESIS_HASH, recordJson } from '../../audit/index.js';

describe('canonical JSON', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('orders keys by UTF-16 code units, as RFC 8785 does', () => {
    // U+00E9 sorts after 'z'; U+1F600 (a surrogate pair, 0xD83D…) sorts before U+FB01 (0xFB01).
    expect(canonicalJson({ é: 1, z: 2, '\u{1F600}': 3, '\uFB01': 4, A: 5 })).toBe(
      '{"A":5,"z":2,"é":1,"\u{1F600}":3,"\uFB01":4}',
    );
  });

  it('writes numbers in their shortest round-trip form', () => {
    expect(canonicalJson([1, 1.5, -0, 1e21, 1e-7, 0.1 + 0.2, 100, 2 ** 53, 5e-324])).toBe(
      '[1,1.5,0,1e+21,1e-7,0.30000000000000004,100,9007199254740992,5e-324]',
    );
  });

  it('matches the RFC 8785 number samples', () => {
    const samples: Array<[number, string]> = [
      [Number.MAX_VALUE, '1.7976931348623157e+308'],
      [1e20, '100000000000000000000'],
      [1e21, '1e+21'],
      [4.5, '4.5'],
      [2e-3, '0.002'],
      [0.000001, '0.000001'],
      [-1e-7, '-1e-7'],
    ];
    for (const [value, text] of samples) expect(canonicalJson(value)).toBe(text);
  });

  it('keeps unicode as is and escapes only what JSON requires', () => {
    expect(canonicalJson('é€\u{1F600}"\\\n\t\u0001\u007f\u2028')).toBe(
      '"é€\u{1F600}\\"\\\\\\n\\t\\u0001\u007f\u2028"',
    );
  });

  it('leaves out object properties that are undefined', () => {
    expect(canonicalJson({ a: 1, validTo: undefined })).toBe('{"a":1}');
  });

  it('refuses what JSON cannot carry back, naming where it is', () => {
    const refusals: Array<[unknown, RegExp]> = [
      [Number.NaN, /^\$: NaN is not a finite number$/],
      [{ a: [1, Number.POSITIVE_INFINITY] }, /^\$\.a\[1\]: Infinity is not a finite number$/],
      [[1, undefined], /^\$\[1\]: undefined is not JSON/],
      [undefined, /^\$: undefined/],
      [{ n: 10n }, /^\$\.n: a bigint is not JSON/],
      [{ f: () => 1 }, /^\$\.f: a function is not JSON/],
      [{ 'odd key': Symbol('x') }, /^\$\["odd key"\]: a symbol is not JSON/],
      [{ at: new Date(0) }, /^\$\.at: a Date is not a plain object/],
      [new Map([['a', 1]]), /^\$: a Map is not a plain object/],
      ['\uD800', /^\$: the string has an unpaired surrogate$/],
      [{ '\uDC00': 1 }, /unpaired surrogate/],
    ];
    for (const [value, message] of refusals) {
      expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
      expect(() => canonicalJson(value)).toThrow(message);
    }
    // biome-ignore lint/suspicious/noSparseArray: a hole is what is being refused
    expect(() => canonicalJson([1, , 3])).toThrow(/^\$\[1\]: undefined/);
  });

  it('refuses a cycle but accepts the same object twice side by side', () => {
    const shared = { x: 1 };
    expect(canonicalJson([shared, shared])).toBe('[{"x":1},{"x":1}]');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/^\$\.self: the value contains itself/);
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.b = 2;
    bare.a = 1;
    expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
  });

  it('round-trips: parsing canonical JSON and writing it again gives the same text', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on the order properties were added in', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(value));
      }),
      { numRuns: 200 },
    );
  });

  it('writes a record from its stored text exactly as canonical JSON of the parsed record', () => {
    const payload = fc.option(fc.jsonValue(), { nil: undefined });
    fc.assert(
      fc.property(payload, payload, payload, fc.string({ minLength: 1 }), (before, after, details, id) => {
        const stored = sealRecord(
          { seq: 41, hash: GENESIS_HASH },
          {
            actor: { type: 'user', id },
            action: 'grant.create',
            subject: `user:${id}`,
            before,
            after,
            details,
            at: 5,
          },
        );
        expect(recordJson(stored, true)).toBe(canonicalJson(toAuditRecord(stored)));
        const { hash: _, ...sealed } = toAuditRecord(stored);
        expect(recordJson(stored, false)).toBe(canonicalJson(sealed));
      }),
      { numRuns: 300 },
    );
  });
});
