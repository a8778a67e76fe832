import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpointKey, takeCheckpoint } from '../audit/index.js';
import { loadCatalog } from '../config/index.js';
import type { Actor } from '../platform/actor.js';
import { fileReport, packEvidence } from '../usage/index.js';
import type { Figures, Section } from './figures.js';
import { freshDb, MONTH, seedMonth } from './ledger.js';

const BENCH: Actor = { type: 'system', id: 'bench' };

/**
 * Seconds to build the evidence pack of the ledger section's 100 000-user month (filed, and
 * signed by a checkpoint, first): the snapshot read, every counted user's history, the archive
 * and the audit record of the hand-out. Measured once: a pack is made once per audit.
 */
async function packSeconds(): Promise<number> {
  const catalog = loadCatalog();
  const { db, done } = await freshDb();
  const dir = await mkdtemp(join(tmpdir(), 'mdhub-bench-pack-'));
  try {
    await seedMonth(db);
    const at = Date.UTC(2026, 10, 2);
    await db.transaction((tx) =>
      fileReport({ ctx: { actor: BENCH, tx, at, catalog }, input: { month: MONTH } }),
    );
    const checkpoints = { dir };
    const key = await loadCheckpointKey(checkpoints, { create: true });
    if (!key) throw new Error('no checkpoint key');
    const signed = await takeCheckpoint(db, checkpoints, { key, now: at + 1 });
    if (!signed.ok) throw new Error(signed.message);
    const started = performance.now();
    await packEvidence(db, { actor: BENCH, at: at + 2, month: MONTH }, { checkpoints });
    return (performance.now() - started) / 1000;
  } finally {
    await rm(dir, { recursive: true, force: true });
    await done();
  }
}

export const packSection: Section = {
  name: 'pack',
  async run(): Promise<Figures> {
    return { pack_100k_users_s: { value: await packSeconds(), unit: 's', goal: '<= 60 s' } };
  },
};
