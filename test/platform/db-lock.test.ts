import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, LOCK_FILE, lockDataDir, openConfiguredDb } from '../../platform/db/index.js';

/** A pid that ran and is gone. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

describe('data-directory lock', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-lock-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a second opener of a held directory is refused, naming the holder and its admin API', async () => {
    const lock = await lockDataDir(dir, { purpose: 'the hub' });
    await lock.advertise('http://127.0.0.1:8080');
    const refused = await lockDataDir(dir, { purpose: 'mdhub report' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as DataDirLockedError).message).toBe(`the hub (pid ${process.pid}) holds ${dir}`);
    expect((refused as DataDirLockedError).holder).toMatchObject({ adminUrl: 'http://127.0.0.1:8080' });
    await lock.release();
    const again = await lockDataDir(dir);
    await again.release();
    await expect(readFile(join(dir, LOCK_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a lock left by a dead process, or by this pid in an earlier life, is taken over', async () => {
    for (const pid of [deadPid(), process.pid]) {
      await writeFile(
        join(dir, LOCK_FILE),
        JSON.stringify({ pid, host: hostname(), startedAt: 1, purpose: 'the hub' }),
      );
      const lock = await lockDataDir(dir, { purpose: 'mdhub migrate' });
      expect(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8'))).toMatchObject({
        pid: process.pid,
        purpose: 'mdhub migrate',
      });
      await lock.release();
    }
  });

  it('the embedded database opened while another holds the directory is never opened a second time', async () => {
    const env = { dataDir: dir, connectRetryMs: 0 };
    const db = await openConfiguredDb(env, { purpose: 'the hub' });
    try {
      await expect(openConfiguredDb(env, { purpose: 'mdhub audit' })).rejects.toBeInstanceOf(
        DataDirLockedError,
      );
      await db.query('select 1');
    } finally {
      await db.close();
    }
    const reopened = await openConfiguredDb(env);
    await reopened.close();
  }, 120_000);
});
