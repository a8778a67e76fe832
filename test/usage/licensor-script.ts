/**
 * A scripted May 2026 for the licensor-file, non-display and unused-entitlement tests: history
 * made with the entitlements verbs, usage events as the edges emit them.
 *
 *   ann   "Ann Lee", non-professional (attested before anything was granted); CTA_A since April,
 *         used on 3 May from her phone; UTP from 10 May, used on 12 May from her phone.
 *   bob   "Bob Ray", professional; CTA_A granted 5 May, revoked 20 May, never used.
 *   algo  "Algo Desk LLC", an application: its only token is non-display; CTA_A since April,
 *         received in real time on 4 May and one real-time snapshot.
 *   cara  "Cara Diaz", professional; a display token and a non-display one; CTA_A since April,
 *         used on 6 May on the display token only.
 *   dan   "Dan Wu", professional, no token; UTP since April (accessed basis), never used.
 *
 * CTA_A is counted per user on the entitled basis, with a non-display fee of its own (60.00); UTP
 * per device on the accessed basis, without one (so at the professional 24.00).
 */
import { type Catalog, parseCatalog } from '../../config/index.js';
import {
  acceptAgreement,
  attest,
  type CatalogContext,
  createUser,
  grant,
  issueToken,
  revoke,
  type VerbOutcome,
} from '../../entitlements/index.js';
import type { Db } from '../../platform/db/index.js';
import type { UsageEvent } from '../../usage/index.js';
import { ADMIN, t } from './ledger-script.js';

export const LICENSOR_CATALOG = {
  version: 'test-lic-1',
  licensors: [
    {
      id: 'CTA',
      name: 'CTA',
      agreement: { name: 'NYSE Subscriber Agreement', version: '2024-01' },
      requiredDetailFields: ['name', 'address'],
    },
    {
      id: 'UTP',
      name: 'UTP',
      agreement: { name: 'Nasdaq Global Subscriber Agreement', version: '2024-01' },
      requiredDetailFields: ['name', 'address'],
    },
  ],
  products: [
    {
      id: 'CTA_A',
      name: 'Tape A',
      licensor: 'CTA',
      tape: 1,
      delayMs: 900000,
      delayedAllowed: true,
      unit: 'user',
      basis: 'entitled',
      licensorCode: 'NETWORK_A',
      fees: [
        {
          effectiveFrom: '2024-01-01',
          source: 'test',
          professional: { type: 'monthly', amount: '45.00' },
          non_professional: { type: 'monthly', amount: '5.25' },
          non_display: { type: 'monthly', amount: '60.00' },
        },
      ],
    },
    {
      id: 'UTP',
      name: 'Tape C',
      licensor: 'UTP',
      tape: 3,
      delayMs: 900000,
      delayedAllowed: true,
      unit: 'device',
      basis: 'accessed',
      licensorCode: 'UTP_L1',
      fees: [
        {
          effectiveFrom: '2018-04-01',
          source: 'test',
          professional: { type: 'monthly', amount: '24.00' },
          non_professional: { type: 'monthly', amount: '1.00' },
        },
      ],
    },
  ],
};

export function licensorCatalog(): Catalog {
  return parseCatalog(structuredClone(LICENSOR_CATALOG), 'licensor catalog');
}

type Step = (ctx: CatalogContext) => Promise<VerbOutcome<unknown>>;

const USERS = [
  { id: 'ann', name: 'Ann Lee', address: '1 Main St, Springfield' },
  { id: 'bob', name: 'Bob Ray', address: '12 "Oak", Apt 3' },
  { id: 'algo', name: 'Algo Desk LLC', address: '5 Wall St, New York' },
  { id: 'cara', name: 'Cara Diaz', address: '7 Pine Rd' },
  { id: 'dan', name: 'Dan Wu', address: '9 Birch Ln' },
];

/** The history, verb by verb, at the instants an operator made it. */
export async function licensorHistory(db: Db, catalog: Catalog): Promise<void> {
  const steps: Array<[string, Step]> = [];
  const at = (iso: string, step: Step) => steps.push([iso, step]);
  const april = '2026-04-01T09:00:00.000Z';
  for (const user of USERS) at(april, (ctx) => createUser({ ctx, input: user }));
  at(april, (ctx) => attest({ ctx, input: { userId: 'ann', status: 'non_professional' } }));
  for (const [userId, product] of [
    ['ann', 'CTA_A'],
    ['ann', 'UTP'],
    ['bob', 'CTA_A'],
    ['algo', 'CTA_A'],
    ['cara', 'CTA_A'],
    ['dan', 'UTP'],
  ] as const)
    at(april, (ctx) => acceptAgreement({ ctx, input: { userId, product } }));
  for (const userId of ['ann', 'algo', 'cara'])
    at(april, (ctx) => grant({ ctx, input: { userId, product: 'CTA_A' } }));
  at(april, (ctx) => grant({ ctx, input: { userId: 'dan', product: 'UTP' } }));
  at(april, (ctx) => issueToken({ ctx, input: { userId: 'ann', deviceId: 'ann-phone' } }));
  at(april, (ctx) => issueToken({ ctx, input: { userId: 'algo', usage: 'non_display' } }));
  at(april, (ctx) => issueToken({ ctx, input: { userId: 'cara' } }));
  at(april, (ctx) => issueToken({ ctx, input: { userId: 'cara', usage: 'non_display' } }));
  at('2026-05-05T00:00:00.000Z', (ctx) => grant({ ctx, input: { userId: 'bob', product: 'CTA_A' } }));
  at('2026-05-10T00:00:00.000Z', (ctx) => grant({ ctx, input: { userId: 'ann', product: 'UTP' } }));
  at('2026-05-20T00:00:00.000Z', (ctx) => revoke({ ctx, input: { userId: 'bob', product: 'CTA_A' } }));
  for (const [iso, step] of steps)
    await db.transaction((tx) => step({ actor: ADMIN, tx, at: t(iso), catalog }));
}

/** What the edges sent in May. */
export function licensorEvents(): UsageEvent[] {
  const access = (
    id: string,
    iso: string,
    user: string,
    product: string,
    device: string | null,
    usage?: 'non_display',
  ): UsageEvent => ({
    v: 1,
    id,
    edge: 'e1',
    at: t(iso),
    day: iso.slice(0, 10),
    user,
    device,
    ...(usage ? { usage } : {}),
    kind: 'first_access',
    session: `s-${id}`,
    product,
  });
  return [
    access('fa-ann-a', '2026-05-03T14:00:00.000Z', 'ann', 'CTA_A', 'ann-phone'),
    access('fa-ann-u', '2026-05-12T15:00:00.000Z', 'ann', 'UTP', 'ann-phone'),
    access('fa-algo', '2026-05-04T10:00:00.000Z', 'algo', 'CTA_A', null, 'non_display'),
    access('fa-cara', '2026-05-06T11:00:00.000Z', 'cara', 'CTA_A', null),
    {
      v: 1,
      id: 'q-algo',
      edge: 'e1',
      at: t('2026-05-04T10:05:00.000Z'),
      day: '2026-05-04',
      user: 'algo',
      device: null,
      usage: 'non_display',
      kind: 'query',
      product: 'CTA_A',
      symbol: 'IBM',
      type: 'Q',
      mode: 'realtime',
      requestId: 'r-1',
    },
  ];
}
