/**
 * The meter's reading of a usage entry: a quick check of each event, the schema only for what the
 * check refuses. The two must agree on every entry: what the schema accepts is metered, with the
 * same fields, and what it refuses is dead-lettered, with its reason.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { decodeUsageEntry, usageEventSchema } from '../../usage/index.js';

/** Lengths on both sides of every bound of the schema (ids, names, products, symbols). */
const LENGTHS = [0, 1, 31, 32, 33, 63, 64, 65, 79, 80, 81, 127, 128, 129];
const text = fc.oneof(
  fc.constantFrom(...LENGTHS).map((n) => 'x'.repeat(n)),
  fc.string({ maxLength: 8 }),
  fc.constantFrom('\u{1F600}'.repeat(32), 'é'.repeat(64)),
);
const instant = fc.oneof(
  fc.constantFrom(0, 1, -1, 1.5, -0, 2 ** 53 - 1, 2 ** 53, 1.7e12, Number.MAX_VALUE),
  fc.integer(),
  fc.nat(),
);
const day = fc.constantFrom('2026-10-01', '2026-13-45', '2026-1-01', '2026-10-01T00', '２０２６-10-01', '');
const anyValue = fc.oneof(
  text,
  instant,
  day,
  fc.constantFrom(null, true, false, [], {}, [1], { a: 1 }, '1', 1, 2),
  fc.constantFrom('display', 'non_display', 'realtime', 'delayed', 'Q', 'T', 'snapshot', 'aggs', 'x'),
  fc.constantFrom('session_open', 'session_close', 'first_access', 'deliveries', 'query', 'constructor'),
);

const common = {
  v: fc.constant(1),
  id: text,
  edge: text,
  at: instant,
  day,
  user: text,
  device: fc.oneof(fc.constant(null), text),
};
const usage = { usage: fc.constantFrom('display', 'non_display') };

/** An event of `kind` with `fields` besides the common ones; `usage` present or not. */
function eventOf<F extends Record<string, fc.Arbitrary<unknown>>>(kind: string, fields: F) {
  return fc.record(
    { ...common, ...usage, kind: fc.constant(kind), ...fields },
    { requiredKeys: ['kind', ...Object.keys(common), ...Object.keys(fields)] as never[] },
  );
}

const events = fc.oneof(
  eventOf('session_open', { session: text }),
  eventOf('session_close', { session: text, openedAt: instant, reason: text }),
  eventOf('first_access', { session: text, product: text }),
  eventOf('deliveries', { session: text, product: text, count: instant, firstAt: instant, lastAt: instant }),
  eventOf('query', {
    product: text,
    symbol: text,
    type: fc.constantFrom('Q', 'T', 'snapshot', 'aggs'),
    mode: fc.constantFrom('realtime', 'delayed'),
    requestId: text,
  }),
);

const FIELDS = [
  'v',
  'id',
  'edge',
  'at',
  'day',
  'user',
  'device',
  'usage',
  'kind',
  'session',
  'openedAt',
  'reason',
  'product',
  'count',
  'firstAt',
  'lastAt',
  'symbol',
  'type',
  'mode',
  'requestId',
  'extra',
];
/** A field set to another value, or removed (`undefined`). */
const mutation = fc.record({
  field: fc.constantFrom(...FIELDS),
  value: fc.option(anyValue, { nil: undefined }),
});

it('meters exactly the entries the usage event schema accepts, as the schema reads them', () => {
  fc.assert(
    fc.property(events, fc.array(mutation, { maxLength: 3 }), (event, mutations) => {
      const data: Record<string, unknown> = { ...event };
      for (const { field, value } of mutations) {
        if (value === undefined) delete data[field];
        else data[field] = value;
      }
      const decoded = decodeUsageEntry(Buffer.from(JSON.stringify(data)));
      const parsed = usageEventSchema.safeParse(JSON.parse(JSON.stringify(data)));
      expect(decoded.ok).toBe(parsed.success);
      if (decoded.ok) expect(decoded.event).toStrictEqual(parsed.data);
    }),
    { numRuns: 5_000 },
  );
});

it('says why an entry is not a usage event, field by field', () => {
  const entry = { v: 1, id: 'q1', edge: 'e1', at: 1, day: '2026-10-01', user: 'u1', device: null };
  const decoded = decodeUsageEntry(
    Buffer.from(JSON.stringify({ ...entry, kind: 'deliveries', session: 's1', product: 'CTA_A', count: 0 })),
  );
  expect(decoded.ok).toBe(false);
  if (!decoded.ok) expect(decoded.reason).toMatch(/^not a usage event: count .*; firstAt .*; lastAt /);
});
