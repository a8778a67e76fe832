/**
 * DESIGN rule 3 in the monthly report, on both engines: a user is professional for a product's
 * month only if professional at an instant at which they counted for it — while real time was
 * open to them (basis `entitled`) or while they received it (basis `accessed`, and on `entitled`
 * too when the ledger shows more than the grants). Histories are made with the entitlement verbs,
 * corrections included, and usage with the ledger's own writer. October 2026, script catalog:
 * CTA_A and CTA_B per user on the entitled basis, UTP per device on the accessed basis.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import {
  type AttestationFact,
  acceptAgreement,
  attest,
  attestationExpiry,
  type CatalogContext,
  categoryAt,
  createUser,
  grant,
  revoke,
  type VerbOutcome,
} from '../../entitlements/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import {
  generateUsageReport,
  parseUsageMonth,
  readMonthlyUsage,
  type UsageEvent,
  writeLedger,
} from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { ADMIN, COMPLIANCE, scriptCatalog } from './ledger-script.js';

const catalog = scriptCatalog();
const MONTH = '2026-10';
const bounds = parseUsageMonth(MONTH)!;
const oct = (day: number, hour = 0, minute = 0) => Date.UTC(2026, 9, day, hour, minute);
const SUPPORT: Actor = { type: 'operator', id: 'sam', role: 'support' };

type Step = [at: number, actor: Actor, step: (ctx: CatalogContext) => Promise<VerbOutcome<unknown>>];

const create = (at: number, id: string): Step => [at, SUPPORT, (ctx) => createUser({ ctx, input: { id } })];
const nonPro = (at: number, userId: string, correction?: { effectiveFrom: number; reason: string }): Step => [
  at,
  COMPLIANCE,
  (ctx) => attest({ ctx, input: { userId, status: 'non_professional', ...correction } }),
];
const entitle = (at: number, userId: string, product: string, validFrom?: number, reason?: string): Step => [
  at,
  ADMIN,
  async (ctx) => {
    await acceptAgreement({ ctx, input: { userId, product } });
    return grant({ ctx, input: { userId, product, validFrom, reason } });
  },
];
const take = (at: number, userId: string, product: string, effectiveAt?: number, reason?: string): Step => [
  at,
  ADMIN,
  (ctx) => revoke({ ctx, input: { userId, product, effectiveAt, reason } }),
];

let n = 0;
/** Real time received on one device, [first, last] of one flush. */
function received(
  user: string,
  product: string,
  first: number,
  last: number,
  device = `${user}-1`,
): UsageEvent {
  const id = `ev-${++n}`;
  const day = new Date(first).toISOString().slice(0, 10);
  return {
    v: 1,
    id,
    edge: 'e1',
    at: last,
    day,
    user,
    device,
    kind: 'deliveries',
    session: id,
    product,
    count: 3,
    firstAt: first,
    lastAt: last,
  };
}
function delayedQuery(user: string, product: string, at: number): UsageEvent {
  const id = `ev-${++n}`;
  const day = new Date(at).toISOString().slice(0, 10);
  return {
    v: 1,
    id,
    edge: 'e1',
    at,
    day,
    user,
    device: `${user}-1`,
    kind: 'query',
    product,
    symbol: 'IBM',
    type: 'Q',
    mode: 'delayed',
    requestId: id,
  };
}

async function play(db: Db, steps: Step[]): Promise<void> {
  for (const [at, actor, step] of [...steps].sort((a, b) => a[0] - b[0])) {
    await db.transaction((tx) => step({ actor, tx, at, catalog }));
  }
}

forEachDb((_engine, getDb) => {
  beforeAll(async () => {
    const db = getDb();
    await play(db, [
      // The example: created, attested non-professional, then granted, all in October.
      create(oct(2), 'newbie'),
      nonPro(oct(5), 'newbie'),
      entitle(oct(10), 'newbie', 'CTA_A'),
      // Granted before attesting: professional while entitled.
      create(oct(2), 'early'),
      entitle(oct(3), 'early', 'CTA_A'),
      nonPro(oct(5), 'early'),
      // Per product: CTA_A revoked before the attestation, CTA_B granted after it.
      create(Date.UTC(2026, 8, 1), 'split'),
      entitle(Date.UTC(2026, 8, 1), 'split', 'CTA_A'),
      take(oct(3), 'split', 'CTA_A'),
      nonPro(oct(5), 'split'),
      entitle(oct(10), 'split', 'CTA_B'),
      // Non-professional until 15 October 12:00; CTA_A ends on the 12th, CTA_B runs on.
      create(Date.UTC(2025, 9, 1), 'lapse'),
      nonPro(Date.UTC(2025, 9, 15, 12), 'lapse'),
      entitle(Date.UTC(2026, 8, 1), 'lapse', 'CTA_B'),
      [
        Date.UTC(2026, 8, 1),
        ADMIN,
        async (ctx) => {
          await acceptAgreement({ ctx, input: { userId: 'lapse', product: 'CTA_A' } });
          return grant({ ctx, input: { userId: 'lapse', product: 'CTA_A', validTo: oct(12) } });
        },
      ],
      // Accessed basis: entitled from the 1st, attested on the 5th; received real time after it only,
      // or before it too.
      create(oct(1), 'viewer'),
      entitle(oct(1), 'viewer', 'UTP'),
      nonPro(oct(5), 'viewer'),
      create(oct(1), 'viewer2'),
      entitle(oct(1), 'viewer2', 'UTP'),
      nonPro(oct(5), 'viewer2'),
      // No grant, yet real time in the ledger (counted: usage outranks permission): before or after attesting.
      create(oct(1), 'stray'),
      nonPro(oct(5), 'stray'),
      create(oct(1), 'stray2'),
      nonPro(oct(5), 'stray2'),
      // Only delayed data: counted at no instant.
      create(oct(2), 'delayed'),
      nonPro(oct(5), 'delayed'),
      // Corrections. An attestation filed on the 20th as effective from the 1st, before the grant on the 2nd.
      create(oct(1), 'late'),
      entitle(oct(2), 'late', 'CTA_A'),
      nonPro(oct(20), 'late', { effectiveFrom: oct(1), reason: 'questionnaire received on the 1st' }),
      // The same filed on the 20th without a correction: professional from the 2nd to the 20th.
      create(oct(1), 'late2'),
      entitle(oct(2), 'late2', 'CTA_A'),
      nonPro(oct(20), 'late2'),
      // A revocation entered on the 20th that really happened on 30 September.
      create(Date.UTC(2026, 8, 1), 'gone'),
      entitle(Date.UTC(2026, 8, 1), 'gone', 'CTA_A'),
      nonPro(oct(5), 'gone'),
      take(oct(20), 'gone', 'CTA_A', Date.UTC(2026, 8, 30), 'cancelled by phone on 30 September'),
      // A grant entered on the 20th that really started on the 2nd, before the attestation on the 3rd
      // (the agreement was on file from the 1st).
      create(oct(1), 'backdated'),
      [
        oct(1),
        COMPLIANCE,
        (ctx) => acceptAgreement({ ctx, input: { userId: 'backdated', product: 'CTA_A' } }),
      ],
      nonPro(oct(3), 'backdated'),
      entitle(oct(20), 'backdated', 'CTA_A', oct(2), 'subscribed by phone on the 2nd'),
    ]);
    await db.transaction((tx) =>
      writeLedger(tx, [
        received('viewer', 'UTP', oct(8, 9), oct(8, 10)),
        received('viewer2', 'UTP', oct(3, 9), oct(3, 9, 5), 'viewer2-tab'),
        received('viewer2', 'UTP', oct(8, 9), oct(8, 10)),
        received('stray', 'CTA_A', oct(4, 23, 50), oct(4, 23, 59)),
        received('stray2', 'CTA_A', oct(8, 9), oct(8, 10)),
        delayedQuery('delayed', 'CTA_A', oct(3, 12)),
        received('newbie', 'CTA_A', oct(11, 9), oct(11, 10)),
      ]),
    );
  });

  async function categories(): Promise<Record<string, string>> {
    const usage = await readMonthlyUsage(getDb(), catalog, bounds);
    return Object.fromEntries(usage.map((u) => [`${u.userId}/${u.product}`, u.category]));
  }

  it('gives a new retail user attested before real time was open the non-professional fee', async () => {
    const { report } = await generateUsageReport(getDb(), catalog, MONTH, { detail: true });
    expect(report.details?.filter((d) => d.user === 'newbie')).toMatchObject([
      { product: 'CTA_A', category: 'non_professional', entitled: true, accessed: true, fee: '6.000000' },
    ]);
  });

  it('judges each product at the instants its own real time was open', async () => {
    expect(await categories()).toMatchObject({
      'newbie/CTA_A': 'non_professional',
      'early/CTA_A': 'professional',
      'split/CTA_A': 'professional',
      'split/CTA_B': 'non_professional',
      'lapse/CTA_A': 'non_professional',
      'lapse/CTA_B': 'professional',
    });
  });

  it('judges an accessed product at the days it was received, and unentitled use at its own instants', async () => {
    expect(await categories()).toMatchObject({
      'viewer/UTP': 'non_professional',
      'viewer2/UTP': 'professional',
      'stray/CTA_A': 'professional',
      'stray2/CTA_A': 'non_professional',
    });
    const { report } = await generateUsageReport(getDb(), catalog, MONTH, { detail: true });
    // The category is the user's for the product: both of viewer2's devices are professional.
    expect(
      report.details?.filter((d) => d.product === 'UTP').map((d) => [d.user, d.device, d.category]),
    ).toEqual([
      ['viewer', 'viewer-1', 'non_professional'],
      ['viewer2', 'viewer2-1', 'professional'],
      ['viewer2', 'viewer2-tab', 'professional'],
    ]);
  });

  it('keeps the month’s category for a user who counted at no instant, and does not report them', async () => {
    expect((await categories())['delayed/CTA_A']).toBe('professional');
    const { report } = await generateUsageReport(getDb(), catalog, MONTH, { detail: true });
    expect(report.details?.some((d) => d.user === 'delayed')).toBe(false);
  });

  it('reads corrections by their effect dates', async () => {
    expect(await categories()).toMatchObject({
      'late/CTA_A': 'non_professional',
      'late2/CTA_A': 'professional',
      'backdated/CTA_A': 'professional',
    });
    const usage = await readMonthlyUsage(getDb(), catalog, bounds);
    // Revoked as of 30 September: nothing was open to them in October, though it was until the 20th.
    expect(usage.find((u) => u.userId === 'gone')).toBeUndefined();
    const september = await readMonthlyUsage(getDb(), catalog, parseUsageMonth('2026-09')!);
    expect(september.filter((u) => u.userId === 'gone')).toMatchObject([
      { product: 'CTA_A', entitled: true, category: 'professional' },
    ]);
  });

  it('agrees with categoryAt at every change boundary of random histories, corrections included', async () => {
    const db = getDb();
    const created = Date.UTC(2025, 8, 1);
    const instant = (from: number, to: number) => fc.integer({ min: from, max: to });
    const history = fc.record({
      attestations: fc.array(
        fc.record({
          at: instant(Date.UTC(2025, 8, 15), oct(31)),
          status: fc.constantFrom('professional' as const, 'non_professional' as const),
          lateBy: fc.option(instant(1, 40 * 86_400_000)),
        }),
        { maxLength: 3 },
      ),
      toggles: fc.uniqueArray(instant(Date.UTC(2026, 8, 15), Date.UTC(2026, 10, 5)), { maxLength: 4 }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(history, async ({ attestations, toggles }) => {
        const userId = `prop-${++run}`;
        const steps: Step[] = [
          create(created, userId),
          [created, COMPLIANCE, (ctx) => acceptAgreement({ ctx, input: { userId, product: 'CTA_A' } })],
        ];
        const facts: Array<AttestationFact & { entered: number }> = [];
        for (const a of attestations) {
          const effectiveFrom = a.lateBy === null ? a.at : Math.max(created, a.at - a.lateBy);
          const correction = a.lateBy === null ? {} : { effectiveFrom, reason: 'filed late' };
          steps.push([
            a.at,
            COMPLIANCE,
            (ctx) => attest({ ctx, input: { userId, status: a.status, ...correction } }),
          ]);
          facts.push({ status: a.status, at: effectiveFrom, entered: a.at });
        }
        // Toggles alternate: grant, revoke, grant, …
        const sorted = [...toggles].sort((a, b) => a - b);
        sorted.forEach((at, index) => {
          steps.push(
            index % 2 === 0
              ? [at, ADMIN, (ctx) => grant({ ctx, input: { userId, product: 'CTA_A' } })]
              : take(at, userId, 'CTA_A'),
          );
        });
        await play(db, steps);

        const user = { attestations: [...facts].sort((a, b) => a.at - b.at || a.entered - b.entered) };
        const openAt = (at: number) => sorted.filter((t) => t <= at).length % 2 === 1;
        const boundaries = [bounds.start, ...sorted, ...facts.flatMap((f) => [f.at, attestationExpiry(f.at)])]
          .filter((b) => b >= bounds.start && b < bounds.end)
          .filter(openAt);
        const expected =
          boundaries.length === 0
            ? undefined
            : boundaries.some((b) => categoryAt(user, b) === 'professional')
              ? 'professional'
              : 'non_professional';
        const usage = await readMonthlyUsage(db, catalog, bounds);
        expect(usage.find((u) => u.userId === userId)?.category).toBe(expected);
      }),
      { numRuns: 40 },
    );
  });
});
