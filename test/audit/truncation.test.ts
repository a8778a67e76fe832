import { generateKeyPairSync } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  appendAudit,
  type Checkpointer,
  type CheckpointOptions,
  checkpointFile,
  createCheckpointer,
  keyPlacementWarning,
  loadCheckpointKey,
  verifyAudit,
} from '../../audit/index.js';
import type { Db } from '../../platform/db/index.js';
import { ENGINES, openTestDb, type TestDb } from '../helpers/db.js';
import { ADMIN, resetLog, T0, tempDir } from './chain-fixtures.js';

const MINUTE = 60_000;

/** A background change nobody made by hand: checkpointed with the minute, not at once. */
function routine(i: number): AuditEntry {
  return {
    actor: { type: 'system', id: 'billing' },
    action: 'billing.charge_sent',
    subject: `user:u${i}`,
    after: { amount: i },
    at: T0 + i,
  };
}

const grant: AuditEntry = {
  actor: ADMIN,
  action: 'grant.create',
  subject: 'user:mallory',
  after: { product: 'UTP', realtime: true },
  at: T0 + 100,
};
const shadowAdmin: AuditEntry = {
  actor: ADMIN,
  action: 'operator.create',
  subject: 'operator:shadow-admin',
  after: { id: 'shadow-admin', role: 'admin' },
  at: T0 + 101,
};

async function append(db: Db, ...entries: AuditEntry[]): Promise<number> {
  let seq = 0;
  for (const entry of entries) seq = (await db.transaction((tx) => appendAudit(tx, entry))).seq;
  return seq;
}

/**
 * What a database superuser does to hide changes: replication mode skips the append-only and
 * head-only-advances triggers, so the tail can be deleted and the head wound back.
 */
async function cutTail(db: Db, after: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('set local session_replication_role = replica');
    await tx.query('delete from audit_log where seq > $1', [after]);
    await tx.query(
      'update audit_head set seq = seq_row.seq, hash = seq_row.hash from ' +
        '(select seq, hash from audit_log where seq = $1) as seq_row',
      [after],
    );
  });
}

/** A tiny HTTP witness, as docs/audit.md describes: POST keeps a line, GET lists them all. */
async function startWitnessServer(): Promise<{
  url: string;
  lines: string[];
  down: { value: boolean };
  server: Server;
}> {
  const lines: string[] = [];
  const down = { value: false };
  const server = createServer((req, res) => {
    if (down.value) {
      res.writeHead(503).end();
      return;
    }
    if (req.method === 'POST') {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        lines.push(JSON.stringify(JSON.parse(body)));
        res.writeHead(201).end();
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/jsonl' }).end(lines.map((l) => `${l}\n`).join(''));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/witness`, lines, down, server };
}

describe.each(ENGINES)('audit truncation and missing checkpoints on %s', (engine) => {
  let testDb: TestDb;
  let db: Db;
  let temp: Awaited<ReturnType<typeof tempDir>>;
  let options: CheckpointOptions;
  let clock: number;
  let n = 0;

  beforeAll(async () => {
    testDb = await openTestDb(engine);
    db = testDb.db;
    temp = await tempDir();
  }, 60_000);
  afterAll(async () => {
    await testDb?.cleanup();
    await temp?.remove();
  });
  beforeEach(async () => {
    await resetLog(db);
    options = { dir: join(temp.dir, `case-${++n}`) };
    clock = T0 + 3_600_000;
  });

  const checkpointer = async (more: Partial<CheckpointOptions> = {}): Promise<Checkpointer> => {
    options = { ...options, ...more };
    const key = await loadCheckpointKey(options, { create: true });
    if (!key) throw new Error('no key');
    return createCheckpointer({ db, checkpoints: options, key, intervalMs: MINUTE, now: () => clock });
  };
  const verify = () =>
    verifyAudit(db, { checkpoints: options, checkpointIntervalMs: MINUTE, now: clock, batchSize: 4 });
  const checkpointSeqs = async (file = checkpointFile(options)) =>
    (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).seq as number);

  it('a grant and a shadow admin cut from the tail, head wound back, fail verification as truncated', async () => {
    const hub = await checkpointer();
    await append(db, routine(1), routine(2), routine(3));
    expect(await hub.tick()).toMatchObject({ seq: 3 });
    // Record 4 is the chain's record of that checkpoint; the attack starts after it.
    await append(db, grant, shadowAdmin);
    // Privileged: signed on the next look, without waiting for the minute.
    expect(await hub.tick()).toMatchObject({ seq: 6 });
    expect(await verify()).toMatchObject({ ok: true, records: 7, checkpoints: 2 });

    await cutTail(db, 4);
    expect(await verify()).toEqual({
      ok: false,
      firstBad: 5,
      reason: 'truncated',
      message:
        'the log ends at record 4, but the checkpoint signed at 2026-01-01T01:00:00.000Z covers record 6: its tail was cut',
    });
    // Nor will the hub sign over the cut log.
    expect(await hub.tick()).toBeUndefined();
  });

  it('signs a privileged change at once and a routine one when the minute is due (injected clock)', async () => {
    const hub = await checkpointer();
    expect(await hub.tick()).toBeUndefined();
    await append(db, routine(1));
    expect(await hub.tick()).toMatchObject({ seq: 1, at: clock });
    await append(db, routine(2));
    clock += 30_000;
    expect(await hub.tick()).toBeUndefined();
    expect(await hub.signPrivileged()).toBeUndefined();
    clock += 30_000;
    expect(await hub.tick()).toMatchObject({ seq: 3 });
    // The checkpoint's own chain record is no reason for another checkpoint.
    clock += 10 * MINUTE;
    expect(await hub.tick()).toBeUndefined();
    await append(db, grant);
    expect(await hub.signPrivileged()).toMatchObject({ seq: 5 });
    expect(await checkpointSeqs()).toEqual([1, 3, 5]);
    expect(await verify()).toMatchObject({ ok: true, records: 6, checkpoints: 3 });
  });

  it('fails when the checkpoint file is moved aside, and stays failed after the next checkpoint', async () => {
    const hub = await checkpointer();
    await append(db, routine(1), grant);
    await hub.tick();
    await append(db, shadowAdmin);
    await hub.tick();
    await rename(checkpointFile(options), `${checkpointFile(options)}.aside`);
    expect(await verify()).toMatchObject({
      ok: false,
      firstBad: 3,
      reason: 'checkpoints_missing',
      message: expect.stringMatching(
        /^record 3 says a checkpoint over record 2 was signed at .* but no checkpoint file or witness holds it \(2 of 2 /,
      ),
    });
    await append(db, grant);
    expect(await hub.tick()).toBeDefined();
    expect(await verify()).toMatchObject({ ok: false, reason: 'checkpoints_missing' });
  });

  it('fails a log older than two checkpoint intervals that has no checkpoint at all', async () => {
    await append(db, routine(1), routine(2));
    const at = (now: number) => verifyAudit(db, { checkpoints: options, checkpointIntervalMs: MINUTE, now });
    expect(await at(T0 + MINUTE)).toMatchObject({ ok: true, checkpoints: 0 });
    expect(await at(T0 + 3 * MINUTE)).toMatchObject({
      ok: false,
      firstBad: null,
      reason: 'checkpoints_missing',
      message: expect.stringMatching(
        /^the log has records since 2026-01-01T00:00:00.001Z but no signed checkpoint/,
      ),
    });
  });

  it('fails when the witness directory holds checkpoints the primary file lacks', async () => {
    const witnessDir = join(temp.dir, `witness-${n}`);
    const hub = await checkpointer({ witnessDir });
    await append(db, routine(1));
    await hub.tick();
    clock += MINUTE;
    await append(db, routine(2));
    await hub.tick();
    await hub.witnesses.flush();
    const witnessFile = join(witnessDir, 'checkpoints.jsonl');
    expect(await checkpointSeqs(witnessFile)).toEqual([1, 3]);
    expect(await verify()).toMatchObject({
      ok: true,
      witnesses: [{ variable: 'MDHUB_AUDIT_WITNESS_DIR', where: witnessFile, checkpoints: 2, behind: 0 }],
    });
    // The primary file rewritten to hold only the first checkpoint.
    const [first] = (await readFile(checkpointFile(options), 'utf8')).split('\n');
    await writeFile(checkpointFile(options), `${first}\n`);
    expect(await verify()).toEqual({
      ok: false,
      firstBad: null,
      reason: 'checkpoints_missing',
      message: `MDHUB_AUDIT_WITNESS_DIR ${witnessFile} holds 1 checkpoints that ${checkpointFile(options)} lacks (2 against 1): checkpoint lines were removed`,
    });
  });

  it('round-trips checkpoints through an HTTP witness, retries it while it is down, and reads it to verify', async () => {
    const witness = await startWitnessServer();
    try {
      const hub = await checkpointer({ witnessUrl: witness.url });
      await append(db, grant);
      await hub.tick();
      await hub.witnesses.flush();
      expect(witness.lines.map((l) => JSON.parse(l).seq)).toEqual([1]);
      expect(await verify()).toMatchObject({
        ok: true,
        witnesses: [{ variable: 'MDHUB_AUDIT_WITNESS_URL', where: witness.url, checkpoints: 1, behind: 0 }],
      });

      witness.down.value = true;
      await append(db, shadowAdmin);
      // The hub is not held up: the checkpoint is signed and kept for the witness.
      expect(await hub.tick()).toMatchObject({ seq: 3 });
      await hub.witnesses.flush();
      expect(hub.witnesses.status()).toEqual([
        expect.objectContaining({
          pending: 1,
          failures: expect.any(Number),
          error: expect.stringMatching(/503/),
        }),
      ]);
      expect(hub.witnesses.status()[0]?.failures).toBeGreaterThan(0);
      expect(await verify()).toMatchObject({
        ok: false,
        reason: 'witness_unavailable',
        message: expect.stringMatching(
          /^MDHUB_AUDIT_WITNESS_URL http:\/\/127\.0\.0\.1:\d+\/witness cannot be read/,
        ),
      });

      witness.down.value = false;
      hub.witnesses.kick();
      await hub.witnesses.flush();
      expect(witness.lines.map((l) => JSON.parse(l).seq)).toEqual([1, 3]);
      expect(hub.witnesses.status()).toEqual([expect.objectContaining({ pending: 0 })]);
      await rename(checkpointFile(options), `${checkpointFile(options)}.aside`);
      expect(await verify()).toMatchObject({ ok: false, reason: 'checkpoints_missing' });
    } finally {
      await new Promise((resolve) => witness.server.close(resolve));
    }
  });

  it('verifies with the public key alone, kept apart from the signing key', async () => {
    const pair = generateKeyPairSync('ed25519');
    const keyFile = join(temp.dir, `secret-${n}.pem`);
    const publicKeyFile = join(temp.dir, `public-${n}.pem`);
    await writeFile(keyFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const hub = await checkpointer({ keyFile, publicKeyFile });
    await append(db, grant);
    await hub.tick();
    options = { dir: options.dir, publicKeyFile };
    expect(await verify()).toMatchObject({ ok: true, checkpoints: 1 });
  });
});

describe('audit key placement', () => {
  it('warns when the signing key sits in the data directory, beside the checkpoints', () => {
    expect(keyPlacementWarning({ dir: '/data/audit' }, '/data')).toMatch(
      /generated in \/data\/audit, beside the checkpoints .* set MDHUB_AUDIT_KEY_FILE/,
    );
    expect(keyPlacementWarning({ dir: '/data/audit', keyFile: '/data/keys/k.pem' }, '/data')).toMatch(
      /inside the data directory/,
    );
    expect(
      keyPlacementWarning({ dir: '/data/audit', keyFile: '/run/secrets/k.pem' }, '/data'),
    ).toBeUndefined();
  });
});
