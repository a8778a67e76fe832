import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, startAuditCheckpoints } from '../../app/api.js';
import { type RoleStarter, startHub } from '../../app/hub.js';
import { checkpointOptions } from '../../app/options.js';
import { verifyAudit } from '../../audit/index.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { openDb } from '../../platform/db/index.js';
import { silentLogger } from '../../platform/logger.js';
import { TEST_DATABASE_URL, uniqueSchema } from '../helpers/db.js';
import { appendRange, tempDir } from './chain-fixtures.js';

// The role is engine-agnostic (checkpointing itself is tested on both engines); PostgreSQL keeps
// this hub test fast, where an on-disk PGlite would spend seconds in initdb.
describe('audit checkpoints in the api role', () => {
  let temp: Awaited<ReturnType<typeof tempDir>>;
  const schemas: string[] = [];
  beforeAll(async () => {
    temp = await tempDir();
  });
  afterAll(async () => {
    const db = await openDb({ url: TEST_DATABASE_URL });
    try {
      for (const schema of schemas) await db.query(`drop schema if exists "${schema}" cascade`);
    } finally {
      await db.close();
      await temp.remove();
    }
  });

  const start = (vars: Record<string, string>, starter: RoleStarter = startAuditCheckpoints) => {
    const schema = uniqueSchema('audit_role');
    schemas.push(schema);
    const env = parseEnv({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: TEST_DATABASE_URL,
      MDHUB_DATA_DIR: temp.dir,
      MDHUB_AUDIT_CHECKPOINT_MS: '1000',
      ...vars,
    });
    const hub = startHub({
      env,
      catalog: loadCatalog(),
      logger: silentLogger,
      roles: ['api'],
      starters: { api: starter },
      dbSchema: schema,
      // An hour into a month: last month has not settled, so the billing worker appends no month
      // close to the log while a test cuts its tail (on the wall clock it raced the operator
      // creation for record 2 and landed after the cut: CI saw checkpoint_mismatch, not truncated).
      now: () => Date.parse('2026-03-01T01:00:00Z'),
    });
    return { env, hub };
  };

  it('checkpoints every MDHUB_AUDIT_CHECKPOINT_MS and once more on stop', async () => {
    const { env, hub: starting } = start({ MDHUB_AUDIT_DIR: join(temp.dir, 'periodic') });
    const hub = await starting;
    const options = checkpointOptions(env);
    const file = join(options.dir, 'checkpoints.jsonl');
    const seqs = async () =>
      (await readFile(file, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).seq as number);
    try {
      await appendRange(hub.ctx.db, 1, 3);
      const deadline = Date.now() + 5_000;
      while (!(await seqs()).includes(3) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      expect(await seqs()).toEqual([3]);
      await appendRange(hub.ctx.db, 4, 5);
    } finally {
      await hub.stop();
    }
    // Record 4 is the chain's record of the first checkpoint; 5 and 6 are the entries appended after it.
    expect(await seqs()).toEqual([3, 6]);
    const db = await openDb({ url: TEST_DATABASE_URL, schema: schemas.at(-1) });
    try {
      expect(await verifyAudit(db, { checkpoints: options })).toMatchObject({
        ok: true,
        records: 7,
        checkpoints: 2,
      });
    } finally {
      await db.close();
    }
  });

  it('signs an operator creation before answering it, so cutting it from the tail afterwards is caught', async () => {
    const admin = 'admin-token-for-the-audit-role-test-0123456789';
    // A long interval: only the privileged change can explain a checkpoint over it.
    const { env, hub: starting } = start(
      {
        MDHUB_AUDIT_DIR: join(temp.dir, 'api'),
        MDHUB_ADMIN_TOKEN: admin,
        MDHUB_AUDIT_CHECKPOINT_MS: '86400000',
      },
      startApi,
    );
    const hub = await starting;
    const options = checkpointOptions(env);
    const call = (path: string, init: { method?: string; body?: unknown } = {}) =>
      fetch(`http://127.0.0.1:${hub.port}${path}`, {
        method: init.method ?? 'GET',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
    try {
      const created = await call('/admin/operators', {
        method: 'POST',
        body: { id: 'shadow-admin', role: 'admin' },
      });
      expect(created.status).toBe(201);
      const { rows } = await hub.ctx.db.query<{ seq: number }>(
        "select seq from audit_log where action = 'operator.create' and subject like '%shadow-admin%'",
      );
      const seq = rows[0]?.seq as number;
      const signed = (await readFile(join(options.dir, 'checkpoints.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line).seq as number);
      expect(signed.some((s) => s >= seq)).toBe(true);

      await hub.ctx.db.transaction(async (tx) => {
        await tx.query('set local session_replication_role = replica');
        await tx.query('delete from audit_log where seq >= $1', [seq]);
        await tx.query(
          'update audit_head set seq = h.seq, hash = h.hash from (select seq, hash from audit_log where seq = $1) h',
          [seq - 1],
        );
      });
      const verified = await call('/admin/audit/verify');
      expect(await verified.json()).toMatchObject({ ok: false, firstBad: seq, reason: 'truncated' });
    } finally {
      await hub.stop();
    }
  });

  it('refuses to start with a checkpoint key that is not an Ed25519 private key', async () => {
    const keyFile = join(temp.dir, 'not-a-key.pem');
    await writeFile(keyFile, 'hello');
    await expect(start({ MDHUB_AUDIT_KEY_FILE: keyFile }).hub).rejects.toThrow(/is not a PEM private key/);
  });
});
