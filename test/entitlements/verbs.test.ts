import { expect, it } from 'vitest';
import {
  acceptAgreement,
  attest,
  ConflictError,
  categoryAt,
  createOperator,
  createUser,
  decide,
  ensureAdminOperator,
  ForbiddenError,
  grant,
  InvalidInputError,
  issueToken,
  NotFoundError,
  productTerms,
  realtimeOpenIntervals,
  revoke,
  revokeOperator,
  revokeToken,
  setDelinquent,
  setStatus,
} from '../../entitlements/index.js';
import { readSnapshots } from '../../entitlements/store.js';
import { hashToken } from '../../entitlements/tokens.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { forEachDb } from '../helpers/db.js';
import { auditOf, run } from './db-helpers.js';
import { ADMIN, COMPLIANCE, DAY, FINANCE, HOUR, SUPPORT, T0, testCatalog } from './fixtures.js';

const catalog = testCatalog();
const terms = productTerms(catalog);
const STRIPE: Actor = { type: 'webhook', id: 'stripe' };

async function newUser(db: Db, id: string): Promise<void> {
  await run(db, ADMIN, T0 - 2 * DAY, (ctx) => createUser({ ctx, input: { id } }));
}

async function snapshot(db: Db, id: string) {
  return (await readSnapshots(db, [id], 2)).get(id);
}

forEachDb((_engine, getDb) => {
  it('creates a user and records it in the audit log', async () => {
    const db = getDb();
    const user = await run(db, SUPPORT, T0, (ctx) =>
      createUser({ ctx, input: { id: 'c1', email: 'c1@example.com', name: 'Cee One' } }),
    );
    expect(user).toEqual({
      id: 'c1',
      email: 'c1@example.com',
      name: 'Cee One',
      address: null,
      status: 'active',
      sessionLimit: null,
      maxUpdatesPerSecond: null,
      createdAt: T0,
    });
    const audit = await auditOf(db, 'user:c1');
    expect(audit).toMatchObject([
      {
        action: 'user.create',
        actor_type: 'operator',
        actor_id: 'sam',
        after: { id: 'c1', email: 'c1@example.com' },
      },
    ]);
  });

  it('refuses a second user with the same id', async () => {
    const db = getDb();
    await newUser(db, 'dup');
    await expect(
      run(db, ADMIN, T0, (ctx) => createUser({ ctx, input: { id: 'dup' } })),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('stores hostile text literally', async () => {
    const db = getDb();
    const id = "'; DROP TABLE users;--";
    await run(db, ADMIN, T0, (ctx) =>
      createUser({ ctx, input: { id, name: 'Robert"); DROP TABLE grants;--' } }),
    );
    const { rows } = await db.query<{ id: string; name: string }>(
      'select id, name from users where id = $1',
      [id],
    );
    expect(rows).toEqual([{ id, name: 'Robert"); DROP TABLE grants;--' }]);
  });

  it('lets no role but its own create users', async () => {
    const db = getDb();
    for (const actor of [COMPLIANCE, FINANCE]) {
      await expect(
        run(db, actor, T0, (ctx) => createUser({ ctx, input: { id: 'nope' } })),
      ).rejects.toBeInstanceOf(ForbiddenError);
    }
  });

  it('grants real time, superseding the previous grant and keeping it in history', async () => {
    const db = getDb();
    await newUser(db, 'g1');
    const first = await run(db, ADMIN, T0 - DAY, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'g1', product: 'CTA_A' } }),
    );
    expect(first.grant).toMatchObject({
      product: 'CTA_A',
      validFrom: T0 - DAY,
      validTo: null,
      createdBy: 'operator:root',
    });
    const second = await run(db, ADMIN, T0, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'g1', product: 'CTA_A', validTo: T0 + DAY } }),
    );
    expect(second.superseded).toEqual([
      {
        ...first.grant,
        revokedAt: T0,
        revokedBy: 'operator:root',
        revocationEnteredAt: T0,
        supersededBy: second.grant.id,
      },
    ]);
    const { rows } = await db.query<{ id: number; revoked_at: number | null }>(
      'select id, revoked_at from grants where user_id = $1 order by id',
      ['g1'],
    );
    expect(rows).toEqual([
      { id: first.grant.id, revoked_at: T0 },
      { id: second.grant.id, revoked_at: null },
    ]);
    const audit = await auditOf(db, 'user:g1');
    expect(audit.map((record) => record.action)).toEqual(['user.create', 'grant.create', 'grant.create']);
    expect(audit[2]).toMatchObject({
      before: { grants: [{ id: first.grant.id, revokedAt: null }] },
      after: { grant: { id: second.grant.id, validTo: T0 + DAY }, superseded: [first.grant.id] },
      details: { product: 'CTA_A' },
    });
  });

  it('never starts a grant in the past', async () => {
    const db = getDb();
    await newUser(db, 'g2');
    const { grant: made } = await run(db, ADMIN, T0, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'g2', product: 'CTA_B', validFrom: T0 - DAY } }),
    );
    expect(made.validFrom).toBe(T0);
  });

  it('refuses an interval that ends before it starts', async () => {
    const db = getDb();
    await newUser(db, 'g3');
    await expect(
      run(db, ADMIN, T0, (ctx) =>
        grant({
          ctx: { ...ctx, catalog },
          input: { userId: 'g3', product: 'CTA_A', validFrom: T0 + HOUR, validTo: T0 + HOUR },
        }),
      ),
    ).rejects.toMatchObject({ code: 'invalid_interval' });
    await expect(
      run(db, ADMIN, T0, (ctx) =>
        grant({ ctx: { ...ctx, catalog }, input: { userId: 'g3', product: 'CTA_A', validTo: T0 - 1 } }),
      ),
    ).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('refuses grants for unknown users and products, closed accounts, and non-admins', async () => {
    const db = getDb();
    await newUser(db, 'g4');
    const attempt = (actor: Actor, userId: string, product: string) =>
      run(db, actor, T0, (ctx) => grant({ ctx: { ...ctx, catalog }, input: { userId, product } }));
    await expect(attempt(ADMIN, 'nobody', 'CTA_A')).rejects.toMatchObject({ code: 'unknown_user' });
    await expect(attempt(ADMIN, 'g4', 'OPRA')).rejects.toMatchObject({ code: 'unknown_product' });
    for (const actor of [SUPPORT, COMPLIANCE, FINANCE])
      await expect(attempt(actor, 'g4', 'CTA_A')).rejects.toBeInstanceOf(ForbiddenError);
    await run(db, ADMIN, T0, (ctx) =>
      setStatus({ ctx, input: { userId: 'g4', status: 'closed', reason: 'asked to' } }),
    );
    await expect(attempt(ADMIN, 'g4', 'CTA_A')).rejects.toMatchObject({ code: 'account_closed' });
  });

  it('revokes current and future grants now, and records nothing when there is nothing to revoke', async () => {
    const db = getDb();
    await newUser(db, 'r1');
    await run(db, ADMIN, T0 - DAY, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 'r1', product: 'CTA_A' } }),
    );
    const { revoked } = await run(db, ADMIN, T0, (ctx) =>
      revoke({ ctx: { ...ctx, catalog }, input: { userId: 'r1', product: 'CTA_A' } }),
    );
    expect(revoked).toMatchObject([{ product: 'CTA_A', revokedAt: T0, revokedBy: 'operator:root' }]);
    const again = await run(db, ADMIN, T0 + 1, (ctx) =>
      revoke({ ctx: { ...ctx, catalog }, input: { userId: 'r1', product: 'CTA_A' } }),
    );
    expect(again.revoked).toEqual([]);
    expect((await auditOf(db, 'user:r1')).map((record) => record.action)).toEqual([
      'user.create',
      'grant.create',
      'grant.revoke',
    ]);
    const user = await snapshot(db, 'r1');
    expect(decide(user, terms.get('CTA_A'), T0 - 1).reasons).toContain('agreement_missing');
    expect(decide(user, terms.get('CTA_A'), T0).reasons).toContain('no_grant');
  });

  it('answers when real time was open: a grant covering the instant and the agreement on file', async () => {
    const db = getDb();
    for (const id of ['h1', 'h2', 'h3', 'h4', 'h5']) await newUser(db, id);
    const put = (userId: string, at: number, validFrom?: number, validTo?: number) =>
      run(db, ADMIN, at, (ctx) =>
        grant({ ctx: { ...ctx, catalog }, input: { userId, product: 'UTP', validFrom, validTo } }),
      );
    const agree = (userId: string, at: number) =>
      run(db, COMPLIANCE, at, (ctx) =>
        acceptAgreement({ ctx: { ...ctx, catalog }, input: { userId, product: 'UTP' } }),
      );
    for (const id of ['h1', 'h3', 'h4']) await agree(id, T0 - 2 * DAY);
    await put('h1', T0 - DAY);
    await put('h1', T0 - HOUR, undefined, T0 + HOUR);
    await put('h2', T0 - DAY, T0 + HOUR, T0 + DAY);
    await agree('h2', T0 + 2 * HOUR);
    await put('h3', T0 - DAY);
    await run(db, ADMIN, T0 - HOUR, (ctx) =>
      revoke({ ctx: { ...ctx, catalog }, input: { userId: 'h3', product: 'UTP' } }),
    );
    await put('h4', T0 - DAY);
    await run(db, ADMIN, T0 + 2 * HOUR, (ctx) =>
      setStatus({ ctx, input: { userId: 'h4', status: 'closed', reason: 'account closed' } }),
    );
    // Granted, never agreed: never open.
    await put('h5', T0 - DAY);
    // No history of delinquency or suspension: neither is subtracted.
    await run(db, STRIPE, T0, (ctx) =>
      setDelinquent({ ctx, input: { userId: 'h1', delinquent: true, reason: 'evt_1' } }),
    );
    await run(db, ADMIN, T0, (ctx) =>
      setStatus({ ctx, input: { userId: 'h2', status: 'suspended', reason: 'x' } }),
    );

    const window = { from: T0 - 2 * DAY, to: T0 + DAY };
    expect(await realtimeOpenIntervals(db, catalog, window)).toEqual([
      { userId: 'h1', product: 'UTP', intervals: [{ from: T0 - DAY, to: T0 + HOUR }] },
      { userId: 'h2', product: 'UTP', intervals: [{ from: T0 + 2 * HOUR, to: T0 + DAY }] },
      { userId: 'h3', product: 'UTP', intervals: [{ from: T0 - DAY, to: T0 - HOUR }] },
      { userId: 'h4', product: 'UTP', intervals: [{ from: T0 - DAY, to: T0 + 2 * HOUR }] },
    ]);
    expect(
      await realtimeOpenIntervals(db, catalog, { from: T0, to: T0 + 30 * 60_000 }, { users: ['h1'] }),
    ).toEqual([{ userId: 'h1', product: 'UTP', intervals: [{ from: T0, to: T0 + 30 * 60_000 }] }]);
    expect(await realtimeOpenIntervals(db, catalog, window, { products: ['CTA_A'] })).toEqual([]);
    expect(await realtimeOpenIntervals(db, catalog, { from: T0 + DAY, to: T0 })).toEqual([]);

    const openAt = async (at: number) =>
      (await realtimeOpenIntervals(db, catalog, { from: at, to: at + 1 }, { products: ['UTP'] })).map(
        (history) => history.userId,
      );
    expect(await openAt(T0 - DAY - 1)).toEqual([]);
    expect(await openAt(T0 - 2 * HOUR)).toEqual(['h1', 'h3', 'h4']);
    expect(await openAt(T0)).toEqual(['h1', 'h4']);
    expect(await openAt(T0 + HOUR)).toEqual(['h4']);
    expect(await openAt(T0 + 2 * HOUR)).toEqual(['h2']);
    expect(await openAt(T0 + DAY)).toEqual([]);
  });

  it('records attestations, the latest one winning, answers kept literally', async () => {
    const db = getDb();
    await newUser(db, 'a1');
    const answers = { registeredWithSec: false, note: "'; DROP TABLE attestations;--" };
    const made = await run(db, COMPLIANCE, T0, (ctx) =>
      attest({ ctx, input: { userId: 'a1', status: 'non_professional', answers } }),
    );
    expect(made).toMatchObject({ status: 'non_professional', at: T0, expiresAt: Date.UTC(2027, 9, 3, 14) });
    await run(db, COMPLIANCE, T0 + DAY, (ctx) =>
      attest({ ctx, input: { userId: 'a1', status: 'professional' } }),
    );
    const user = (await snapshot(db, 'a1'))!;
    expect(categoryAt(user, T0 + HOUR)).toBe('non_professional');
    expect(categoryAt(user, T0 + DAY)).toBe('professional');
    const { rows } = await db.query<{ answers: string | null }>(
      'select answers from attestations where user_id = $1 order by id',
      ['a1'],
    );
    expect(rows.map((row) => row.answers && JSON.parse(row.answers))).toEqual([answers, null]);
    expect((await auditOf(db, 'user:a1'))[1]).toMatchObject({
      action: 'attestation.record',
      after: { answers },
    });
    await expect(
      run(db, SUPPORT, T0, (ctx) => attest({ ctx, input: { userId: 'a1', status: 'professional' } })),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('records the licensor’s current agreement version once', async () => {
    const db = getDb();
    await newUser(db, 'ag1');
    const accept = (at: number, product: string) =>
      run(db, COMPLIANCE, at, (ctx) =>
        acceptAgreement({ ctx: { ...ctx, catalog }, input: { userId: 'ag1', product } }),
      );
    expect(await accept(T0, 'CTA_B')).toEqual({
      licensor: 'CTA',
      name: 'NYSE Subscriber Agreement',
      version: '2024-01',
      acceptedAt: T0,
      created: true,
    });
    expect(await accept(T0 + DAY, 'CTA_A')).toMatchObject({
      licensor: 'CTA',
      acceptedAt: T0,
      created: false,
    });
    await expect(accept(T0, 'NOPE')).rejects.toBeInstanceOf(NotFoundError);
    expect((await auditOf(db, 'user:ag1')).map((record) => record.action)).toEqual([
      'user.create',
      'agreement.accept',
    ]);
    const user = await snapshot(db, 'ag1');
    expect(decide(user, terms.get('CTA_A'), T0).reasons).toEqual(['no_grant']);
    expect(decide(user, terms.get('UTP'), T0).reasons).toEqual([
      'no_grant',
      'agreement_missing',
      'delayed_not_offered',
    ]);
  });

  it('suspends and reactivates, keeping grants; closing is final and ends them', async () => {
    const db = getDb();
    await newUser(db, 's1');
    await run(db, ADMIN, T0 - DAY, (ctx) =>
      grant({ ctx: { ...ctx, catalog }, input: { userId: 's1', product: 'CTA_A' } }),
    );
    const status = (at: number, value: 'active' | 'suspended' | 'closed') =>
      run(db, ADMIN, at, (ctx) =>
        setStatus({ ctx, input: { userId: 's1', status: value, reason: `to ${value}` } }),
      );
    expect(await status(T0, 'suspended')).toEqual({ status: 'suspended', changed: true, endedGrants: 0 });
    expect(await status(T0, 'suspended')).toEqual({ status: 'suspended', changed: false, endedGrants: 0 });
    expect(decide(await snapshot(db, 's1'), terms.get('CTA_A'), T0).reasons).toContain('suspended');
    await status(T0 + 1, 'active');
    expect(decide(await snapshot(db, 's1'), terms.get('CTA_A'), T0 + 1).reasons).not.toContain('no_grant');
    expect(await status(T0 + 2, 'closed')).toEqual({ status: 'closed', changed: true, endedGrants: 1 });
    await expect(status(T0 + 3, 'active')).rejects.toMatchObject({ code: 'account_closed' });
    expect(decide(await snapshot(db, 's1'), terms.get('CTA_A'), T0 + 3)).toMatchObject({ mode: 'refused' });
    const audit = await auditOf(db, 'user:s1');
    expect(audit.filter((record) => record.action === 'user.status').map((record) => record.after)).toEqual([
      { status: 'suspended' },
      { status: 'active' },
      { status: 'closed' },
    ]);
    await expect(
      run(db, SUPPORT, T0, (ctx) =>
        setStatus({ ctx, input: { userId: 's1', status: 'active', reason: 'x' } }),
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('lets billing mark a user delinquent and paid up again', async () => {
    const db = getDb();
    await newUser(db, 'd1');
    const mark = (delinquent: boolean) =>
      run(db, STRIPE, T0, (ctx) =>
        setDelinquent({ ctx, input: { userId: 'd1', delinquent, reason: 'evt_123' } }),
      );
    expect(await mark(true)).toEqual({ delinquent: true, changed: true });
    expect(await mark(true)).toEqual({ delinquent: true, changed: false });
    expect(decide(await snapshot(db, 'd1'), terms.get('CTA_A'), T0).reasons).toContain('delinquent');
    expect(await mark(false)).toEqual({ delinquent: false, changed: true });
    expect((await auditOf(db, 'user:d1')).filter((r) => r.action === 'user.delinquency')).toMatchObject([
      {
        actor_type: 'webhook',
        actor_id: 'stripe',
        after: { delinquent: true },
        details: { reason: 'evt_123' },
      },
      { after: { delinquent: false } },
    ]);
    await expect(
      run(db, SUPPORT, T0, (ctx) =>
        setDelinquent({ ctx, input: { userId: 'd1', delinquent: true, reason: 'x' } }),
      ),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('issues user tokens shown once and stored only as a hash, and revokes them', async () => {
    const db = getDb();
    await newUser(db, 't1');
    const issued = await run(db, SUPPORT, T0, (ctx) =>
      issueToken({ ctx, input: { userId: 't1', deviceId: 'ipad-1' } }),
    );
    expect(issued.token).toMatch(/^mdu_[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.query<Record<string, unknown>>('select * from user_tokens where user_id = $1', [
      't1',
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: issued.id,
      token_hash: hashToken(issued.token),
      device_id: 'ipad-1',
    });
    expect(JSON.stringify(rows)).not.toContain(issued.token);
    const audit = await auditOf(db, 'user:t1');
    expect(JSON.stringify(audit)).not.toContain(issued.token);
    expect(JSON.stringify(audit)).not.toContain(hashToken(issued.token));

    const revokeIt = () =>
      run(db, SUPPORT, T0 + 1, (ctx) => revokeToken({ ctx, input: { userId: 't1', tokenId: issued.id } }));
    expect(await revokeIt()).toEqual({ revoked: true });
    expect(await revokeIt()).toEqual({ revoked: false });
    await expect(
      run(db, SUPPORT, T0, (ctx) => revokeToken({ ctx, input: { userId: 't1', tokenId: 'tok_nope' } })),
    ).rejects.toMatchObject({ code: 'unknown_token' });
    await expect(
      run(db, FINANCE, T0, (ctx) => issueToken({ ctx, input: { userId: 't1' } })),
    ).rejects.toBeInstanceOf(ForbiddenError);
  });

  it('manages operators and never revokes the last admin', async () => {
    const db = getDb();
    const made = await run(db, ADMIN, T0, (ctx) =>
      createOperator({ ctx, input: { id: 'op-admin', role: 'admin' } }),
    );
    expect(made.token).toMatch(/^mdo_/);
    await expect(
      run(db, ADMIN, T0, (ctx) => createOperator({ ctx, input: { id: 'op-admin', role: 'support' } })),
    ).rejects.toBeInstanceOf(ConflictError);
    await expect(
      run(db, SUPPORT, T0, (ctx) => createOperator({ ctx, input: { id: 'x', role: 'support' } })),
    ).rejects.toBeInstanceOf(ForbiddenError);
    await expect(
      run(db, ADMIN, T0, (ctx) => revokeOperator({ ctx, input: { id: 'op-admin' } })),
    ).rejects.toMatchObject({
      code: 'last_admin',
    });
    await run(db, ADMIN, T0, (ctx) => createOperator({ ctx, input: { id: 'op-admin-2', role: 'admin' } }));
    expect(await run(db, ADMIN, T0, (ctx) => revokeOperator({ ctx, input: { id: 'op-admin' } }))).toEqual({
      revoked: true,
    });
    expect(await run(db, ADMIN, T0, (ctx) => revokeOperator({ ctx, input: { id: 'op-admin' } }))).toEqual({
      revoked: false,
    });
    await expect(
      run(db, ADMIN, T0, (ctx) => revokeOperator({ ctx, input: { id: 'ghost' } })),
    ).rejects.toMatchObject({
      code: 'unknown_operator',
    });
    expect((await auditOf(db, 'operator:op-admin')).map((r) => r.action)).toEqual([
      'operator.create',
      'operator.revoke',
    ]);
    await db.query("update operators set revoked_at = $1 where id = 'op-admin-2'", [T0]);
  });

  it('leaves neither the change nor its audit record when the transaction fails after the append', async () => {
    const db = getDb();
    await newUser(db, 'rb1');
    const before = await db.query<{ n: number }>('select count(*)::int8 as n from audit_log');
    await expect(
      db.transaction(async (tx) => {
        await grant({
          ctx: { actor: ADMIN, tx, at: T0, catalog },
          input: { userId: 'rb1', product: 'CTA_A' },
        });
        throw new Error('crash after the audit append');
      }),
    ).rejects.toThrow('crash after the audit append');
    const { rows } = await db.query('select 1 from grants where user_id = $1', ['rb1']);
    expect(rows).toEqual([]);
    const after = await db.query<{ n: number }>('select count(*)::int8 as n from audit_log');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
    expect((await auditOf(db, 'user:rb1')).map((record) => record.action)).toEqual(['user.create']);
  });
});

forEachDb((_engine, getDb) => {
  it('generates and prints an admin token once when none is configured, then honours MDHUB_ADMIN_TOKEN', async () => {
    const db = getDb();
    const lines: string[] = [];
    const print = (line: string) => lines.push(line);
    expect(await ensureAdminOperator({ db, at: T0, print })).toEqual({ created: 'admin' });
    expect(await ensureAdminOperator({ db, at: T0 + 1, print })).toEqual({});
    expect(lines).toHaveLength(1);
    const generated = /(mdo_[A-Za-z0-9_-]{43})$/.exec(lines[0]!)?.[1];
    expect(generated).toBeDefined();
    expect(await auditOf(db, 'operator:admin')).toMatchObject([
      {
        action: 'operator.create',
        actor_type: 'system',
        actor_id: 'boot',
        after: { id: 'admin', role: 'admin' },
      },
    ]);

    const configured = 'configured-admin-token-0123456789';
    expect(await ensureAdminOperator({ db, token: configured, at: T0 + 2, print })).toEqual({
      created: 'admin-2',
    });
    expect(await ensureAdminOperator({ db, token: configured, at: T0 + 3, print })).toEqual({});
    expect(await ensureAdminOperator({ db, at: T0 + 4, print })).toEqual({});
    expect(lines).toHaveLength(1);
    const { rows } = await db.query<{ id: string; role: string; token_hash: string }>(
      'select id, role, token_hash from operators order by id',
    );
    expect(rows).toEqual([
      { id: 'admin', role: 'admin', token_hash: hashToken(generated!) },
      { id: 'admin-2', role: 'admin', token_hash: hashToken(configured) },
    ]);

    await db.query("update operators set revoked_at = $1 where id = 'admin-2'", [T0 + 5]);
    expect(await ensureAdminOperator({ db, token: configured, at: T0 + 6, print })).toEqual({});
    const revoked = await db.query("select revoked_at from operators where id = 'admin-2'");
    expect(revoked.rows).toEqual([{ revoked_at: T0 + 5 }]);
  });
});
