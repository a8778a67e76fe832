import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, canonicalJson, GENESIS_HASH, verifyAudit } from '../../audit/index.js';
import { type Db, openDb } from '../../platform/db/index.js';
import { ENGINES, openTestDb, TEST_DATABASE_URL, type TestDb } from '../helpers/db.js';
import { ADMIN, appendRange, entry, resetLog, storedRecords, T0 } from './chain-fixtures.js';

describe.each(ENGINES)('audit append on %s', (engine) => {
  let testDb: TestDb;
  let db: Db;
  beforeAll(async () => {
    testDb = await openTestDb(engine);
    db = testDb.db;
    await db.query('create table t_grant (user_id text primary key, product text not null)');
  });
  afterAll(async () => {
    await testDb.cleanup();
  });
  beforeEach(async () => {
    await resetLog(db);
    await db.query('delete from t_grant');
  });

  it('numbers records 1, 2, 3 … and links each to the hash of the one before', async () => {
    await appendRange(db, 1, 5);
    const records = await storedRecords(db);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(records[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < records.length; i++) expect(records[i]?.prevHash).toBe(records[i - 1]?.hash);
    expect(await verifyAudit(db)).toMatchObject({ ok: true, records: 5 });
  });

  it('returns the record, whose hash is SHA-256 over its canonical JSON without the hash', async () => {
    const record = await db.transaction((tx) =>
      appendAudit(tx, {
        actor: ADMIN,
        action: 'grant.create',
        subject: 'user:u1',
        before: null,
        after: { validTo: T0, product: 'UTP', fee: 0.1 },
        at: T0,
      }),
    );
    expect(record).toEqual({
      seq: 1,
      at: T0,
      actor: { type: 'operator', id: 'op-ann', role: 'admin' },
      action: 'grant.create',
      subject: 'user:u1',
      before: null,
      after: { product: 'UTP', validTo: T0, fee: 0.1 },
      prevHash: GENESIS_HASH,
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    const { hash, ...sealed } = record;
    expect(createHash('sha256').update(canonicalJson(sealed)).digest('hex')).toBe(hash);
    const [stored] = await storedRecords(db);
    expect(stored?.after).toBe(`{"fee":0.1,"product":"UTP","validTo":${T0}}`);
    expect(stored?.before).toBe('null');
    expect(stored?.details).toBeNull();
  });

  it('records the role of an operator and none for other actors', async () => {
    await db.transaction(async (tx) => {
      await appendAudit(tx, { ...entry(1), actor: { type: 'operator', id: 'op-c', role: 'compliance' } });
      await appendAudit(tx, { ...entry(2), actor: { type: 'webhook', id: 'stripe' } });
    });
    const records = await storedRecords(db);
    expect(records.map((r) => [r.actorType, r.actorId, r.actorRole])).toEqual([
      ['operator', 'op-c', 'compliance'],
      ['webhook', 'stripe', null],
    ]);
  });

  it('writes in the caller’s transaction: a rollback leaves neither the change, the record nor a gap', async () => {
    await appendRange(db, 1, 2);
    await expect(
      db.transaction(async (tx) => {
        await tx.query("insert into t_grant values ('u1', 'UTP')");
        await appendAudit(tx, entry(3));
        throw new Error('the verb failed after auditing');
      }),
    ).rejects.toThrow('the verb failed');
    await appendRange(db, 4, 4);
    expect((await storedRecords(db)).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect((await db.query('select * from t_grant')).rows).toEqual([]);
    expect(await verifyAudit(db)).toMatchObject({ ok: true, records: 3 });
  });

  it('fails closed: an entry that cannot be recorded aborts the change it describes', async () => {
    const attempt = (details: unknown, action = 'grant.create') =>
      db.transaction(async (tx) => {
        await tx.query("insert into t_grant values ('u1', 'UTP')");
        await appendAudit(tx, { ...entry(1), action, details });
      });
    await expect(attempt({ fee: Number.NaN })).rejects.toThrow(
      'audit entry: details $.fee: NaN is not a finite number',
    );
    await expect(attempt([1, undefined])).rejects.toThrow(/details \$\[1\]: undefined is not JSON/);
    await expect(attempt({}, 'CreateGrant')).rejects.toThrow(
      /action "CreateGrant" must look like 'entity.verb'/,
    );
    await expect(
      db.transaction((tx) => appendAudit(tx, { ...entry(1), actor: { type: 'operator', id: 'x' } as never })),
    ).rejects.toThrow(/operator x has no valid role/);
    await expect(db.transaction((tx) => appendAudit(tx, { ...entry(1), at: 1.5 }))).rejects.toThrow(
      /at must be epoch milliseconds/,
    );
    expect((await db.query('select * from t_grant')).rows).toEqual([]);
    expect(await storedRecords(db)).toEqual([]);
  });

  it('refuses UPDATE, DELETE and TRUNCATE on the log, even of no rows', async () => {
    await appendRange(db, 1, 3);
    for (const sql of [
      "update audit_log set subject = 'user:nobody' where seq = 2",
      'delete from audit_log where seq = 3',
      'delete from audit_log where false',
      'truncate audit_log',
    ]) {
      await expect(db.query(sql)).rejects.toThrow(/the audit log is append-only/);
    }
    expect(await verifyAudit(db)).toMatchObject({ ok: true, records: 3 });
  });

  it('refuses winding the head back, moving it off the log, or deleting it', async () => {
    await appendRange(db, 1, 3);
    const [first] = await storedRecords(db);
    await expect(db.query('update audit_head set seq = $1, hash = $2', [1, first?.hash])).rejects.toThrow(
      /may only advance/,
    );
    await expect(db.query("update audit_head set seq = 9, hash = 'x'")).rejects.toThrow(/may only advance/);
    await expect(db.query('delete from audit_head')).rejects.toThrow(/append-only/);
    await expect(db.query('truncate audit_head')).rejects.toThrow(/append-only/);
  });

  it('keeps one chain under 50 concurrent transactions', async () => {
    // PostgreSQL: a pool of its own, so the 50 really race on separate connections; PGlite has one
    // connection and queues them, which must not fork the chain either.
    const pool =
      engine === 'postgres'
        ? await openDb({ url: TEST_DATABASE_URL, schema: testDb.schema, poolSize: 50 })
        : db;
    try {
      await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          pool.transaction(async (tx) => {
            await tx.query('select 1');
            const record = await appendAudit(tx, entry(i));
            // Holding the transaction open a moment makes the others queue on the head lock.
            if (engine === 'postgres') await tx.query('select pg_sleep(0.002)');
            return record;
          }),
        ),
      );
    } finally {
      if (pool !== db) await pool.close();
    }
    const records = await storedRecords(db);
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(new Set(records.map((r) => r.prevHash)).size).toBe(50);
    expect(await verifyAudit(db)).toMatchObject({ ok: true, records: 50 });
  });
});
