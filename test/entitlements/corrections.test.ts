/**
 * Corrections with effect dates (DESIGN rule 3), on both engines: an attestation recorded late, a
 * grant or a revocation backdated. The history reads the effect date; the row keeps the entry
 * time; the audit record carries both, the actor and the reason; live decisions change from now.
 */
import { expect, it } from 'vitest';
import {
  acceptAgreement,
  attest,
  attestationExpiry,
  categoryAt,
  createUser,
  decide,
  ForbiddenError,
  grant,
  productTerms,
  realtimeOpenIntervals,
  revoke,
} from '../../entitlements/index.js';
import { readSnapshots } from '../../entitlements/store.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { forEachDb } from '../helpers/db.js';
import { run } from './db-helpers.js';
import { ADMIN, COMPLIANCE, DAY, FINANCE, HOUR, SUPPORT, T0, testCatalog } from './fixtures.js';

const catalog = testCatalog();
const CTA_A = productTerms(catalog).get('CTA_A')!;
const CREATED = T0 - 10 * DAY;
const REASON = 'paper form received late';

async function newUser(db: Db, id: string): Promise<void> {
  await run(db, ADMIN, CREATED, (ctx) => createUser({ ctx, input: { id } }));
  await run(db, ADMIN, CREATED, (ctx) =>
    acceptAgreement({ ctx: { ...ctx, catalog }, input: { userId: id, product: 'CTA_A' } }),
  );
}

async function snapshot(db: Db, id: string) {
  return (await readSnapshots(db, [id], 2)).get(id)!;
}

/** The audit records of a user, with the entry time and the actor as stored. */
async function audit(db: Db, userId: string, action: string) {
  const { rows } = await db.query<{
    at: number;
    actor_id: string;
    actor_role: string;
    before_json: string | null;
    after_json: string | null;
    details_json: string | null;
  }>(
    'select at, actor_id, actor_role, before_json, after_json, details_json from audit_log where subject = $1 and action = $2 order by seq',
    [`user:${userId}`, action],
  );
  const parse = (json: string | null) => (json === null ? null : JSON.parse(json));
  return rows.map((row) => ({
    at: row.at,
    actor: `${row.actor_role}:${row.actor_id}`,
    before: parse(row.before_json),
    after: parse(row.after_json),
    details: parse(row.details_json),
  }));
}

async function count(db: Db, table: 'attestations' | 'grants', userId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int8 as n from ${table} where user_id = $1`,
    [userId],
  );
  return rows[0]!.n;
}

forEachDb((_engine, getDb) => {
  it('records an attestation filed late as of its effect date, keeping when it was entered', async () => {
    const db = getDb();
    await newUser(db, 'late-1');
    const effectiveFrom = T0 - 5 * DAY;
    const outcome = await db.transaction((tx) =>
      attest({
        ctx: { actor: COMPLIANCE, tx, at: T0 },
        input: { userId: 'late-1', status: 'non_professional', effectiveFrom, reason: REASON },
      }),
    );
    expect(outcome.value).toMatchObject({
      status: 'non_professional',
      at: T0,
      effectiveFrom,
      expiresAt: attestationExpiry(effectiveFrom),
    });
    expect(outcome.changed).toEqual(['late-1']);
    const { rows } = await db.query('select at, effective_from from attestations where user_id = $1', [
      'late-1',
    ]);
    expect(rows).toEqual([{ at: T0, effective_from: effectiveFrom }]);
    // The history and the live category read the effect date; the year runs from it too.
    const user = await snapshot(db, 'late-1');
    expect(categoryAt(user, effectiveFrom - 1)).toBe('professional');
    expect(categoryAt(user, effectiveFrom)).toBe('non_professional');
    expect(categoryAt(user, T0)).toBe('non_professional');
    expect(categoryAt(user, attestationExpiry(effectiveFrom))).toBe('professional');
    expect(await audit(db, 'late-1', 'attestation.record')).toEqual([
      {
        at: T0,
        actor: 'compliance:cathy',
        before: null,
        after: expect.objectContaining({ at: T0, effectiveFrom, status: 'non_professional' }),
        details: { reason: REASON, effectiveFrom },
      },
    ]);
  });

  it('lets a later attestation win by effect date, not by when it was entered', async () => {
    const db = getDb();
    await newUser(db, 'late-2');
    await run(db, COMPLIANCE, T0 - 2 * DAY, (ctx) =>
      attest({ ctx, input: { userId: 'late-2', status: 'professional' } }),
    );
    await run(db, ADMIN, T0, (ctx) =>
      attest({
        ctx,
        input: { userId: 'late-2', status: 'non_professional', effectiveFrom: T0 - 4 * DAY, reason: REASON },
      }),
    );
    const user = await snapshot(db, 'late-2');
    expect(categoryAt(user, T0 - 3 * DAY)).toBe('non_professional');
    expect(categoryAt(user, T0)).toBe('professional');
  });

  it('refuses a late attestation from support and finance, before the user existed, in the future or without a reason', async () => {
    const db = getDb();
    await newUser(db, 'late-3');
    const attempt = (actor: Actor, effectiveFrom: number, reason: string | null = REASON) =>
      run(db, actor, T0, (ctx) =>
        attest({
          ctx,
          input: { userId: 'late-3', status: 'non_professional', effectiveFrom, reason: reason ?? undefined },
        }),
      );
    for (const actor of [SUPPORT, FINANCE])
      await expect(attempt(actor, T0 - DAY)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(attempt(COMPLIANCE, CREATED - 1)).rejects.toMatchObject({
      code: 'effective_date_before_user',
    });
    await expect(attempt(COMPLIANCE, T0 + 1)).rejects.toMatchObject({ code: 'effective_date_in_future' });
    await expect(attempt(COMPLIANCE, T0 - DAY, null)).rejects.toMatchObject({ code: 'reason_required' });
    await expect(attempt(COMPLIANCE, T0 - DAY, '   ')).rejects.toMatchObject({ code: 'reason_required' });
    expect(await count(db, 'attestations', 'late-3')).toBe(0);
    // At the instant the user was created, and at the instant of entry, are both allowed.
    await attempt(COMPLIANCE, CREATED);
    await attempt(ADMIN, T0);
    expect(await count(db, 'attestations', 'late-3')).toBe(2);
  });

  it('backdates a grant with a reason, which is open from then in the history and live now', async () => {
    const db = getDb();
    await newUser(db, 'bg-1');
    const { value, changed } = await db.transaction((tx) =>
      grant({
        ctx: { actor: ADMIN, tx, at: T0, catalog },
        input: { userId: 'bg-1', product: 'CTA_A', validFrom: T0 - 3 * DAY, reason: REASON },
      }),
    );
    expect(changed).toEqual(['bg-1']);
    expect(value.grant).toMatchObject({ validFrom: T0 - 3 * DAY, createdAt: T0, createdBy: 'operator:root' });
    expect(
      await realtimeOpenIntervals(db, catalog, { from: T0 - 5 * DAY, to: T0 + DAY }, { users: ['bg-1'] }),
    ).toEqual([{ userId: 'bg-1', product: 'CTA_A', intervals: [{ from: T0 - 3 * DAY, to: T0 + DAY }] }]);
    expect(decide(await snapshot(db, 'bg-1'), CTA_A, T0).mode).toBe('realtime');
    expect(await audit(db, 'bg-1', 'grant.create')).toMatchObject([
      {
        at: T0,
        actor: 'admin:root',
        after: { grant: { validFrom: T0 - 3 * DAY, createdAt: T0 } },
        details: { product: 'CTA_A', reason: REASON, effectiveFrom: T0 - 3 * DAY },
      },
    ]);
  });

  it('keeps a past validFrom without a reason starting now, as before', async () => {
    const db = getDb();
    await newUser(db, 'bg-2');
    const { grant: made } = await run(db, ADMIN, T0, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'bg-2', product: 'CTA_A', validFrom: T0 - DAY } }),
    );
    expect(made.validFrom).toBe(T0);
    expect((await audit(db, 'bg-2', 'grant.create'))[0]?.details).toEqual({ product: 'CTA_A' });
  });

  it('records a grant that ended before it was entered as history only, replacing nothing', async () => {
    const db = getDb();
    await newUser(db, 'bg-3');
    const current = await run(db, ADMIN, T0 - DAY, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'bg-3', product: 'CTA_A' } }),
    );
    const past = await run(db, ADMIN, T0, (ctx) =>
      grant({
        ctx: { ...ctx, catalog },
        input: {
          userId: 'bg-3',
          product: 'CTA_A',
          validFrom: T0 - 8 * DAY,
          validTo: T0 - 6 * DAY,
          reason: REASON,
        },
      }),
    );
    expect(past.superseded).toEqual([]);
    const user = await snapshot(db, 'bg-3');
    expect(decide(user, CTA_A, T0).mode).toBe('realtime');
    expect(
      (await realtimeOpenIntervals(db, catalog, { from: T0 - 9 * DAY, to: T0 }, { users: ['bg-3'] }))[0]
        ?.intervals,
    ).toEqual([
      { from: T0 - 8 * DAY, to: T0 - 6 * DAY },
      { from: T0 - DAY, to: T0 },
    ]);
    expect(current.grant.id).not.toBe(past.grant.id);
  });

  it('refuses a backdated grant from compliance, support and finance, and before the user existed', async () => {
    const db = getDb();
    await newUser(db, 'bg-4');
    const attempt = (actor: Actor, validFrom: number) =>
      run(db, actor, T0, (ctx) =>
        grant({
          ctx: { ...ctx, catalog },
          input: { userId: 'bg-4', product: 'CTA_A', validFrom, reason: REASON },
        }),
      );
    for (const actor of [COMPLIANCE, SUPPORT, FINANCE])
      await expect(attempt(actor, T0 - DAY)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(attempt(ADMIN, CREATED - 1)).rejects.toMatchObject({ code: 'effective_date_before_user' });
    expect(await count(db, 'grants', 'bg-4')).toBe(0);
  });

  it('backdates a revocation: real time ends now, and the history ends it at the effect date', async () => {
    const db = getDb();
    await newUser(db, 'br-1');
    const first = await run(db, ADMIN, T0 - 4 * DAY, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'br-1', product: 'CTA_A' } }),
    );
    // Replaced on T0 - 1 h by a grant until T0 + 1 day: the first grant's end is T0 - 1 h.
    const second = await run(db, ADMIN, T0 - HOUR, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'br-1', product: 'CTA_A', validTo: T0 + DAY } }),
    );
    expect(decide(await snapshot(db, 'br-1'), CTA_A, T0).mode).toBe('realtime');
    const effectiveAt = T0 - 2 * DAY;
    const { value, changed } = await db.transaction((tx) =>
      revoke({
        ctx: { actor: ADMIN, tx, at: T0, catalog },
        input: { userId: 'br-1', product: 'CTA_A', effectiveAt, reason: 'cancelled by phone' },
      }),
    );
    expect(changed).toEqual(['br-1']);
    expect(value.revoked).toMatchObject([
      { id: first.grant.id, revokedAt: effectiveAt, revocationEnteredAt: T0, supersededBy: second.grant.id },
      { id: second.grant.id, revokedAt: effectiveAt, revocationEnteredAt: T0 },
    ]);
    expect(decide(await snapshot(db, 'br-1'), CTA_A, T0).reasons).toContain('no_grant');
    expect(
      await realtimeOpenIntervals(db, catalog, { from: T0 - 5 * DAY, to: T0 + DAY }, { users: ['br-1'] }),
    ).toEqual([{ userId: 'br-1', product: 'CTA_A', intervals: [{ from: T0 - 4 * DAY, to: effectiveAt }] }]);
    const [record] = await audit(db, 'br-1', 'grant.revoke');
    expect(record).toMatchObject({
      at: T0,
      actor: 'admin:root',
      before: {
        grants: [
          { id: first.grant.id, revokedAt: T0 - HOUR },
          { id: second.grant.id, revokedAt: null },
        ],
      },
      after: { grants: [{ revokedAt: effectiveAt }, { revokedAt: effectiveAt }] },
      details: { product: 'CTA_A', reason: 'cancelled by phone', effectiveAt },
    });
    // Nothing reaches past the effect date any more: a second correction records nothing.
    const again = await db.transaction((tx) =>
      revoke({
        ctx: { actor: ADMIN, tx, at: T0 + 1, catalog },
        input: { userId: 'br-1', product: 'CTA_A', effectiveAt, reason: 'again' },
      }),
    );
    expect(again).toEqual({ value: { revoked: [] }, changed: [] });
  });

  it('also ends at the effect date a grant that ran out on its own after it', async () => {
    const db = getDb();
    await newUser(db, 'br-2');
    await run(db, ADMIN, T0 - 4 * DAY, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'br-2', product: 'CTA_A', validTo: T0 - DAY } }),
    );
    const { revoked } = await run(db, ADMIN, T0, (ctx) =>
      revoke({
        ctx: { ...ctx, catalog },
        input: { userId: 'br-2', product: 'CTA_A', effectiveAt: T0 - 3 * DAY, reason: REASON },
      }),
    );
    expect(revoked).toMatchObject([
      { validTo: T0 - DAY, revokedAt: T0 - 3 * DAY, revokedBy: 'operator:root' },
    ]);
  });

  it('refuses a backdated revocation from compliance, support and finance, in the future, before the user or without a reason', async () => {
    const db = getDb();
    await newUser(db, 'br-3');
    await run(db, ADMIN, T0 - DAY, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'br-3', product: 'CTA_A' } }),
    );
    const attempt = (actor: Actor, effectiveAt: number, reason: string | null = REASON) =>
      run(db, actor, T0, (ctx) =>
        revoke({
          ctx: { ...ctx, catalog },
          input: { userId: 'br-3', product: 'CTA_A', effectiveAt, reason: reason ?? undefined },
        }),
      );
    for (const actor of [COMPLIANCE, SUPPORT, FINANCE])
      await expect(attempt(actor, T0 - HOUR)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(attempt(ADMIN, T0 + 1)).rejects.toMatchObject({ code: 'effective_date_in_future' });
    await expect(attempt(ADMIN, CREATED - 1)).rejects.toMatchObject({ code: 'effective_date_before_user' });
    await expect(attempt(ADMIN, T0 - HOUR, null)).rejects.toMatchObject({ code: 'reason_required' });
    expect(decide(await snapshot(db, 'br-3'), CTA_A, T0).mode).toBe('realtime');
    expect(await audit(db, 'br-3', 'grant.revoke')).toEqual([]);
  });
});
