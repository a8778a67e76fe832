import { generateKeyPairSync } from 'node:crypto';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type CheckpointOptions,
  canonicalJson,
  checkpointFile,
  loadCheckpointKey,
  takeCheckpoint,
  verifyAudit,
} from '../../audit/index.js';
import type { Db } from '../../platform/db/index.js';
import { ENGINES, openTestDb, type TestDb } from '../helpers/db.js';
import { appendRange, resetLog, rewriteChain, tamper, tempDir } from './chain-fixtures.js';

describe.each(ENGINES)('audit verification on %s', (engine) => {
  let testDb: TestDb;
  let db: Db;
  let temp: Awaited<ReturnType<typeof tempDir>>;
  let options: CheckpointOptions;
  let n = 0;

  beforeAll(async () => {
    testDb = await openTestDb(engine);
    db = testDb.db;
    temp = await tempDir();
  });
  afterAll(async () => {
    await testDb.cleanup();
    await temp.remove();
  });
  // A fresh log of 30 records and a fresh checkpoint directory for every test.
  beforeEach(async () => {
    await resetLog(db);
    await appendRange(db, 1, 30);
    options = { dir: join(temp.dir, `case-${++n}`) };
  });

  const checkpoint = async () => {
    const key = await loadCheckpointKey(options, { create: true });
    if (!key) throw new Error('no key');
    const result = await takeCheckpoint(db, options, { key, now: Date.UTC(2026, 1, 1) });
    expect(result.ok).toBe(true);
    return result;
  };
  const verify = () => verifyAudit(db, { checkpoints: options, batchSize: 7 });

  it('passes an intact log, across batch boundaries, and counts its records', async () => {
    expect(await verify()).toEqual({
      ok: true,
      records: 30,
      checkpoints: 0,
      head: { seq: 30, hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
      witnesses: [],
    });
  });

  it('passes an empty log', async () => {
    await resetLog(db);
    expect(await verify()).toMatchObject({ ok: true, records: 0 });
  });

  it('names a record whose data was altered', async () => {
    await tamper(db, `update audit_log set after_json = replace(after_json, '1.25', '0.25') where seq = 7`);
    expect(await verify()).toEqual({
      ok: false,
      firstBad: 7,
      reason: 'altered',
      message: 'record 7 was altered: its content does not match its hash',
    });
  });

  it('names a record whose actor was altered', async () => {
    await tamper(db, "update audit_log set actor_role = 'support' where seq = 29");
    expect(await verify()).toMatchObject({ ok: false, firstBad: 29, reason: 'altered' });
  });

  it('names a deleted record as missing', async () => {
    await tamper(db, 'delete from audit_log where seq = 12');
    expect(await verify()).toEqual({
      ok: false,
      firstBad: 12,
      reason: 'missing',
      message: 'record 12 is missing from the log',
    });
  });

  it('names two swapped records as reordered', async () => {
    await tamper(
      db,
      'update audit_log set seq = 1000 where seq = 5; update audit_log set seq = 5 where seq = 6; ' +
        'update audit_log set seq = 6 where seq = 1000',
    );
    expect(await verify()).toMatchObject({ ok: false, firstBad: 5, reason: 'reordered' });
  });

  it('notices deleted tail records through the head row', async () => {
    await tamper(db, 'delete from audit_log where seq > 27');
    expect(await verify()).toMatchObject({ ok: false, firstBad: 28, reason: 'missing' });
  });

  it('without checkpoints, cannot tell a chain rewritten with recomputed hashes from the original', async () => {
    await rewriteChain(db, (record) => {
      if (record.seq === 3) record.after = '{"product":"UTP","realtime":false}';
    });
    expect(await verify()).toMatchObject({ ok: true, records: 30 });
  });

  it('catches a whole chain rewritten with recomputed hashes after the last checkpoint', async () => {
    await checkpoint();
    await appendRange(db, 31, 35);
    await rewriteChain(db, (record) => {
      if (record.seq === 3) record.after = '{"product":"UTP","realtime":false}';
    });
    expect(await verify()).toEqual({
      ok: false,
      firstBad: 30,
      reason: 'checkpoint_mismatch',
      message:
        'record 30 differs from the checkpoint signed at 2026-02-01T00:00:00.000Z: the log was rewritten',
    });
  });

  it('catches a tail deleted behind a rewound head, beyond a checkpoint', async () => {
    await checkpoint();
    await tamper(db, 'delete from audit_log where seq > 25');
    await rewriteChain(db, () => undefined);
    expect(await verify()).toMatchObject({ ok: false, firstBad: 26, reason: 'truncated' });
  });

  it('verifies against every checkpoint, not only the latest', async () => {
    await checkpoint();
    await appendRange(db, 31, 40);
    await checkpoint();
    // Each checkpoint is also recorded in the chain: record 31 says checkpoint 1 was signed.
    expect(await verify()).toMatchObject({ ok: true, records: 42, checkpoints: 2 });
    const lines = (await readFile(checkpointFile(options), 'utf8')).trim().split('\n');
    expect(lines.map((line) => JSON.parse(line).seq)).toEqual([30, 41]);
  });

  it('refuses a forged checkpoint line', async () => {
    const { latest } = (await checkpoint()) as { latest: { seq: number; hash: string } };
    const forged = JSON.parse((await readFile(checkpointFile(options), 'utf8')).trim());
    await appendFile(
      checkpointFile(options),
      `${canonicalJson({ ...forged, seq: 29, hash: latest.hash })}\n`,
    );
    expect(await verify()).toEqual({
      ok: false,
      firstBad: 29,
      reason: 'bad_checkpoint',
      message: `line 2 of ${checkpointFile(options)} has a forged signature`,
    });
  });

  it('refuses a checkpoint signed by a key that is not the hub’s', async () => {
    await checkpoint();
    const intruder = { dir: join(options.dir, 'intruder') };
    const key = await loadCheckpointKey(intruder, { create: true });
    if (!key) throw new Error('no key');
    await takeCheckpoint(db, intruder, { key });
    await appendFile(checkpointFile(options), await readFile(checkpointFile(intruder)));
    expect(await verify()).toMatchObject({
      ok: false,
      firstBad: 31,
      reason: 'bad_checkpoint',
      message: expect.stringMatching(/line 2 .* is signed by a key that is not this hub's checkpoint key$/),
    });
  });

  it('refuses an unreadable checkpoint line', async () => {
    await checkpoint();
    await appendFile(checkpointFile(options), '{"seq": 31\n');
    expect(await verify()).toMatchObject({ ok: false, firstBad: null, reason: 'bad_checkpoint' });
  });

  it('will not sign a log tampered with since the last checkpoint', async () => {
    await checkpoint();
    await appendRange(db, 31, 33);
    await tamper(db, "update audit_log set subject = 'user:u9' where seq = 32");
    const key = await loadCheckpointKey(options, { create: false });
    if (!key) throw new Error('no key');
    expect(await takeCheckpoint(db, options, { key })).toMatchObject({
      ok: false,
      firstBad: 32,
      reason: 'altered',
    });
    await tamper(db, 'delete from audit_log where seq = 30');
    expect(await takeCheckpoint(db, options, { key })).toMatchObject({
      ok: false,
      firstBad: 30,
      reason: 'checkpoint_mismatch',
    });
  });

  it('generates the key once, readable by its owner only, and reuses it', async () => {
    const first = await loadCheckpointKey(options, { create: true });
    const second = await loadCheckpointKey(options, { create: true });
    expect(second?.publicKey).toBe(first?.publicKey);
    expect((await stat(join(options.dir, 'checkpoint-key.pem'))).mode & 0o777).toBe(0o600);
    expect(await loadCheckpointKey({ dir: join(options.dir, 'none') }, { create: false })).toBeUndefined();
  });

  it('signs with MDHUB_AUDIT_KEY_FILE when one is configured, and refuses a key that is not Ed25519', async () => {
    const keyFile = join(temp.dir, `given-${n}.pem`);
    const pair = generateKeyPairSync('ed25519');
    await writeFile(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const key = await loadCheckpointKey({ ...options, keyFile }, { create: true });
    expect(key?.publicKey).toBe(pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    await writeFile(keyFile, rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await expect(loadCheckpointKey({ ...options, keyFile }, { create: true })).rejects.toThrow(
      /is rsa, not Ed25519/,
    );
    await expect(
      loadCheckpointKey({ ...options, keyFile: `${keyFile}.absent` }, { create: true }),
    ).rejects.toThrow(/MDHUB_AUDIT_KEY_FILE .* cannot be read/);
  });

  it('is not fooled by a record moved to another place with its own hash', async () => {
    // Record 8 copied over a deleted record 9: its hash is its own, but it does not link.
    await tamper(db, 'delete from audit_log where seq = 9');
    await tamper(
      db,
      'insert into audit_log select 9, at, actor_type, actor_id, actor_role, action, subject, before_json, ' +
        'after_json, details_json, prev_hash, hash from audit_log where seq = 8',
    );
    expect(await verify()).toMatchObject({ ok: false, firstBad: 9, reason: 'reordered' });
  });
});
