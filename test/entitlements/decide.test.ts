import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decide,
  type GrantSpan,
  type ProductTerms,
  REASON_TEXT,
  REASONS,
  type Reason,
  type UserSnapshot,
} from '../../entitlements/index.js';
import { CTA_A, DAY, entitledUser, HOUR, NO_DELAY, T0 } from './fixtures.js';

const grant = (validFrom: number, validTo: number | null, revokedAt: number | null = null): GrantSpan => ({
  product: 'CTA_A',
  validFrom,
  validTo,
  revokedAt,
});

describe('decide: one reason at a time', () => {
  const cases: Array<{
    name: string;
    user: UserSnapshot | undefined;
    product?: ProductTerms | null;
    sessions?: number;
    expected: { mode: string; reasons: Reason[] };
  }> = [
    { name: 'every condition met', user: entitledUser(), expected: { mode: 'realtime', reasons: [] } },
    { name: 'unknown user', user: undefined, expected: { mode: 'refused', reasons: ['unknown_user'] } },
    {
      name: 'unknown product',
      user: entitledUser(),
      product: null,
      expected: { mode: 'refused', reasons: ['unknown_product'] },
    },
    {
      name: 'suspended',
      user: entitledUser({ status: 'suspended' }),
      expected: { mode: 'delayed', reasons: ['suspended'] },
    },
    {
      name: 'closed',
      user: entitledUser({ status: 'closed' }),
      expected: { mode: 'refused', reasons: ['closed'] },
    },
    {
      name: 'delinquent',
      user: entitledUser({ delinquent: true }),
      expected: { mode: 'delayed', reasons: ['delinquent'] },
    },
    {
      name: 'no grant at all',
      user: entitledUser({ grants: [] }),
      expected: { mode: 'delayed', reasons: ['no_grant'] },
    },
    {
      name: 'grant for another product only',
      user: entitledUser({ grants: [{ ...grant(T0 - DAY, null), product: 'CTA_B' }] }),
      expected: { mode: 'delayed', reasons: ['no_grant'] },
    },
    {
      name: 'grant starting later',
      user: entitledUser({ grants: [grant(T0 + HOUR, null)] }),
      expected: { mode: 'delayed', reasons: ['grant_not_started'] },
    },
    {
      name: 'grant ended by its validity',
      user: entitledUser({ grants: [grant(T0 - DAY, T0)] }),
      expected: { mode: 'delayed', reasons: ['grant_expired'] },
    },
    {
      name: 'grant revoked',
      user: entitledUser({ grants: [grant(T0 - DAY, null, T0 - HOUR)] }),
      expected: { mode: 'delayed', reasons: ['no_grant'] },
    },
    {
      name: 'grant revoked before it started had no effect',
      user: entitledUser({ grants: [grant(T0 + HOUR, null, T0 - HOUR)] }),
      expected: { mode: 'delayed', reasons: ['no_grant'] },
    },
    {
      name: 'agreement missing',
      user: entitledUser({ agreements: [] }),
      expected: { mode: 'delayed', reasons: ['agreement_missing'] },
    },
    {
      name: 'agreement of another licensor only',
      user: entitledUser({ agreements: [{ licensor: 'UTP', version: '2024-01', acceptedAt: 0 }] }),
      expected: { mode: 'delayed', reasons: ['agreement_missing'] },
    },
    {
      name: 'agreement accepted after the instant',
      user: entitledUser({ agreements: [{ licensor: 'CTA', version: '2024-01', acceptedAt: T0 + 1 }] }),
      expected: { mode: 'delayed', reasons: ['agreement_missing'] },
    },
    {
      name: 'only an older agreement version',
      user: entitledUser({ agreements: [{ licensor: 'CTA', version: '2023-01', acceptedAt: 0 }] }),
      expected: { mode: 'delayed', reasons: ['agreement_outdated'] },
    },
    {
      name: 'one session over the limit',
      user: entitledUser(),
      sessions: 3,
      expected: { mode: 'delayed', reasons: ['session_limit'] },
    },
    {
      name: 'exactly at the session limit',
      user: entitledUser(),
      sessions: 2,
      expected: { mode: 'realtime', reasons: [] },
    },
    {
      name: 'not real time on a product not offered delayed',
      user: entitledUser({ grants: [] }),
      product: NO_DELAY,
      expected: { mode: 'refused', reasons: ['no_grant', 'delayed_not_offered'] },
    },
    {
      name: 'real time on a product not offered delayed',
      user: entitledUser(),
      product: NO_DELAY,
      expected: { mode: 'realtime', reasons: [] },
    },
  ];

  it.each(cases)('$name', ({ user, product, sessions, expected }) => {
    const terms = product === null ? undefined : (product ?? CTA_A);
    expect(decide(user, terms, T0, sessions === undefined ? {} : { sessions })).toEqual(expected);
  });
});

describe('decide: grant boundaries', () => {
  it('a grant covers its first instant and not its end instant', () => {
    const user = entitledUser({ grants: [grant(T0, T0 + HOUR)] });
    expect(decide(user, CTA_A, T0 - 1).reasons).toEqual(['grant_not_started']);
    expect(decide(user, CTA_A, T0).mode).toBe('realtime');
    expect(decide(user, CTA_A, T0 + HOUR - 1).mode).toBe('realtime');
    expect(decide(user, CTA_A, T0 + HOUR).reasons).toEqual(['grant_expired']);
  });

  it('a revocation before the validity end takes effect at the revocation', () => {
    const user = entitledUser({ grants: [grant(T0 - DAY, T0 + DAY, T0)] });
    expect(decide(user, CTA_A, T0 - 1).mode).toBe('realtime');
    expect(decide(user, CTA_A, T0).reasons).toEqual(['no_grant']);
  });

  it('a superseded grant followed by its replacement leaves no gap', () => {
    const user = entitledUser({ grants: [grant(T0 - DAY, null, T0), grant(T0, T0 + DAY)] });
    expect(decide(user, CTA_A, T0 - 1).mode).toBe('realtime');
    expect(decide(user, CTA_A, T0).mode).toBe('realtime');
  });

  it('a future grant is named rather than the expired one before it', () => {
    const user = entitledUser({ grants: [grant(T0 - DAY, T0 - HOUR), grant(T0 + HOUR, null)] });
    expect(decide(user, CTA_A, T0).reasons).toEqual(['grant_not_started']);
  });
});

describe('decide: every reason together', () => {
  it('lists each applying reason once, in the fixed order', () => {
    const user = entitledUser({ status: 'closed', delinquent: true, grants: [], agreements: [] });
    expect(decide(user, NO_DELAY, T0, { sessions: 9 })).toEqual({
      mode: 'refused',
      reasons: [
        'closed',
        'delinquent',
        'no_grant',
        'agreement_missing',
        'session_limit',
        'delayed_not_offered',
      ],
    });
  });

  it('suspended and delinquent with an outdated agreement is delayed with all three reasons', () => {
    const user = entitledUser({
      status: 'suspended',
      delinquent: true,
      agreements: [{ licensor: 'CTA', version: '2020-01', acceptedAt: 0 }],
    });
    expect(decide(user, CTA_A, T0)).toEqual({
      mode: 'delayed',
      reasons: ['suspended', 'delinquent', 'agreement_outdated'],
    });
  });

  it('reports an unknown user and an unknown product together', () => {
    expect(decide(undefined, undefined, T0)).toEqual({
      mode: 'refused',
      reasons: ['unknown_user', 'unknown_product'],
    });
  });

  it('has words for every reason', () => {
    for (const reason of REASONS) expect(REASON_TEXT[reason]).toMatch(/^[A-Z].+\.$/);
  });
});

const instant = fc.integer({ min: T0 - 10 * DAY, max: T0 + 10 * DAY });
const grantArb = fc.record({
  product: fc.constantFrom('CTA_A', 'CTA_B'),
  validFrom: instant,
  validTo: fc.option(instant, { nil: null }),
  revokedAt: fc.option(instant, { nil: null }),
});
const snapshotArb: fc.Arbitrary<UserSnapshot> = fc.record({
  id: fc.constant('u1'),
  status: fc.constantFrom('active' as const, 'suspended' as const, 'closed' as const),
  delinquent: fc.boolean(),
  sessionLimit: fc.integer({ min: 1, max: 4 }),
  attestations: fc.constant([]),
  agreements: fc.array(
    fc.record({
      licensor: fc.constantFrom('CTA', 'UTP'),
      version: fc.constantFrom('2023-01', '2024-01'),
      acceptedAt: instant,
    }),
    { maxLength: 3 },
  ),
  grants: fc
    .array(grantArb, { maxLength: 4 })
    .map((grants) => grants.filter((g) => g.validTo === null || g.validTo > g.validFrom)),
});
const productArb = fc.option(
  fc.record({
    id: fc.constantFrom('CTA_A', 'CTA_B'),
    licensor: fc.constant('CTA'),
    agreementVersion: fc.constant('2024-01'),
    delayedAllowed: fc.boolean(),
  }),
  { nil: undefined },
);
const userArb = fc.option(snapshotArb, { nil: undefined, freq: 8 });
const sessionsArb = fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined });

describe('decide: properties', () => {
  it('is real time exactly when there is no reason', () => {
    fc.assert(
      fc.property(userArb, productArb, instant, sessionsArb, (user, product, at, sessions) => {
        const decision = decide(user, product, at, { sessions });
        expect(decision.mode === 'realtime').toBe(decision.reasons.length === 0);
      }),
    );
  });

  it('gives reasons without duplicates, in REASONS order', () => {
    fc.assert(
      fc.property(userArb, productArb, instant, sessionsArb, (user, product, at, sessions) => {
        const { reasons } = decide(user, product, at, { sessions });
        const positions = reasons.map((reason) => REASONS.indexOf(reason));
        expect(positions).toEqual([...new Set(positions)].sort((a, b) => a - b));
      }),
    );
  });

  it('does not depend on the order grants and agreements are listed in', () => {
    fc.assert(
      fc.property(snapshotArb, productArb, instant, (user, product, at) => {
        const reversed = {
          ...user,
          grants: [...user.grants].reverse(),
          agreements: [...user.agreements].reverse(),
        };
        expect(decide(reversed, product, at)).toEqual(decide(user, product, at));
      }),
    );
  });

  it('refuses a closed account everything', () => {
    fc.assert(
      fc.property(snapshotArb, productArb, instant, sessionsArb, (user, product, at, sessions) => {
        expect(decide({ ...user, status: 'closed' }, product, at, { sessions }).mode).toBe('refused');
      }),
    );
  });

  it('never gives delayed data for a product that does not allow it', () => {
    fc.assert(
      fc.property(userArb, productArb, instant, (user, product, at) => {
        if (product?.delayedAllowed !== false) return;
        expect(decide(user, product, at).mode).not.toBe('delayed');
      }),
    );
  });

  it('is real time only with an active, paid-up account, a covering grant and the current agreement', () => {
    fc.assert(
      fc.property(snapshotArb, productArb, instant, sessionsArb, (user, product, at, sessions) => {
        if (decide(user, product, at, { sessions }).mode !== 'realtime' || !product) return;
        expect(user.status).toBe('active');
        expect(user.delinquent).toBe(false);
        expect(
          user.grants.some(
            (g) =>
              g.product === product.id &&
              g.validFrom <= at &&
              at < Math.min(g.validTo ?? Number.POSITIVE_INFINITY, g.revokedAt ?? Number.POSITIVE_INFINITY),
          ),
        ).toBe(true);
        expect(
          user.agreements.some((a) => a.licensor === 'CTA' && a.version === '2024-01' && a.acceptedAt <= at),
        ).toBe(true);
        if (sessions !== undefined) expect(sessions).toBeLessThanOrEqual(user.sessionLimit);
      }),
    );
  });

  it('more sessions never turn a decision into real time', () => {
    fc.assert(
      fc.property(
        snapshotArb,
        productArb,
        instant,
        fc.integer({ min: 1, max: 5 }),
        (user, product, at, sessions) => {
          if (decide(user, product, at, { sessions }).mode !== 'realtime') {
            expect(decide(user, product, at, { sessions: sessions + 1 }).mode).not.toBe('realtime');
          }
        },
      ),
    );
  });
});
