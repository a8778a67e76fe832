/**
 * `GET /admin/audit/pack` over HTTP, mounted as the api role mounts it, with the operator set by
 * a stand-in for operatorAuth: refusals in the error envelope, the archive with its hash, the
 * hand-out audited with the operator as actor, and the archive verifying with its own script.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract } from 'tar';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCheckpointKey, queryAudit, takeCheckpoint } from '../../audit/index.js';
import type { OperatorRole } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { evidenceRoutes, fileReport, VERIFY_SCRIPT, writeLedger } from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { COMPLIANCE, scriptCatalog, scriptEvents, scriptHistory, t } from './ledger-script.js';

const catalog = scriptCatalog();
const NOW = t('2026-04-02T09:00:00Z');

const script = (await import(VERIFY_SCRIPT)) as { verifyPack: (dir: string) => string[] };

forEachDb((_engine, getDb) => {
  let app: App;
  let dir: string;
  const checkpoints = () => ({ dir: join(dir, 'audit') });

  async function checkpoint(at: number): Promise<void> {
    const key = await loadCheckpointKey(checkpoints(), { create: true });
    const result = await takeCheckpoint(getDb(), checkpoints(), { key: key!, now: at });
    expect(result.ok).toBe(true);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mdhub-pack-route-'));
    const db: Db = getDb();
    await scriptHistory(db, catalog);
    await db.transaction((tx) => writeLedger(tx, scriptEvents()));
    await db.transaction((tx) =>
      fileReport({ ctx: { actor: COMPLIANCE, tx, at: NOW, catalog }, input: { month: '2026-03' } }),
    );
    app = createApp({
      logger: silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
      health: new HealthChecks(),
    });
    app.use('/admin/*', async (c, next) => {
      const role = (c.req.header('x-test-role') ?? 'compliance') as OperatorRole;
      c.set('actor', { type: 'operator', id: `op-${role}`, role });
      await next();
    });
    app.route('/admin', evidenceRoutes({ db, checkpoints: checkpoints(), now: () => NOW + 60_000 }));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const get = (query: string, role = 'compliance') =>
    app.request(`/admin/audit/pack${query}`, { headers: { 'x-test-role': role } });

  async function errorOf(res: Response): Promise<{ status: number; code: string }> {
    const body = (await res.json()) as { error: { code: string } };
    return { status: res.status, code: body.error.code };
  }

  it('refuses bad queries, finance and support, an unfiled month, and a month no checkpoint signs', async () => {
    expect(await errorOf(await get(''))).toEqual({ status: 400, code: 'invalid_query' });
    expect(await errorOf(await get('?month=2026-3'))).toEqual({ status: 400, code: 'invalid_query' });
    expect(await errorOf(await get('?month=2026-03&x=1'))).toEqual({ status: 400, code: 'invalid_query' });
    for (const role of ['finance', 'support']) expect((await get('?month=2026-03', role)).status).toBe(403);
    expect(await errorOf(await get('?month=2026-02'))).toEqual({ status: 404, code: 'not_filed' });
    expect(await errorOf(await get('?month=2026-03'))).toEqual({ status: 503, code: 'no_checkpoint_key' });
    await checkpoint(NOW + 1);
    await getDb().transaction((tx) =>
      fileReport({
        ctx: { actor: COMPLIANCE, tx, at: NOW + 2, catalog },
        input: { month: '2026-03', licensor: 'UTP' },
      }),
    );
    expect(await errorOf(await get('?month=2026-03'))).toEqual({ status: 409, code: 'not_checkpointed' });
  });

  it('serves the pack to compliance, records the hand-out, and the pack verifies', async () => {
    await checkpoint(NOW + 3);
    const res = await get('?month=2026-03');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/gzip');
    expect(res.headers.get('content-disposition')).toBe(
      'attachment; filename="mdhub-evidence-2026-03.tar.gz"',
    );
    const body = Buffer.from(await res.arrayBuffer());
    const sha256 = createHash('sha256').update(body).digest('hex');
    expect(res.headers.get('x-pack-sha256')).toBe(sha256);

    const page = await queryAudit(getDb(), { subject: 'report:usage:2026-03', limit: 100 });
    const handout = page.records.at(-1)!;
    expect(handout).toMatchObject({
      seq: Number(res.headers.get('x-pack-audit-seq')),
      action: 'report.pack',
      actor: { type: 'operator', id: 'op-compliance', role: 'compliance' },
      details: { month: '2026-03', sha256, bytes: body.length, filings: [1, 2] },
    });

    const file = join(dir, 'pack.tar.gz');
    await writeFile(file, body);
    const into = join(dir, 'unpacked');
    await mkdir(into);
    await extract({ file, cwd: into });
    const summary = script.verifyPack(join(into, 'mdhub-evidence-2026-03'));
    expect(summary[0]).toMatch(/^2026-03: filing 1, filing 2; every file as filed/);
  });

  /** Every file of a pack fetched now, by path, unpacked with the `tar` package. */
  async function unpackNow(name: string): Promise<Map<string, string>> {
    const body = Buffer.from(await (await get('?month=2026-03')).arrayBuffer());
    const into = join(dir, name);
    await mkdir(into);
    await writeFile(join(dir, `${name}.tar.gz`), body);
    await extract({ file: join(dir, `${name}.tar.gz`), cwd: into });
    const root = join(into, 'mdhub-evidence-2026-03');
    const files = new Map<string, string>();
    for (const path of await readdir(root, { recursive: true })) {
      if (!path.includes('.')) continue;
      files.set(path, await readFile(join(root, path), 'utf8'));
    }
    return files;
  }

  it('packs the same content again, the segment grown by exactly the first hand-out', async () => {
    const first = await unpackNow('first');
    const second = await unpackNow('second');
    expect([...second.keys()].sort()).toEqual([...first.keys()].sort());
    for (const [path, text] of first) {
      if (path.startsWith('audit/') || path === 'pack.json' || path === 'manifest.json') continue;
      expect(second.get(path), path).toBe(text);
    }
    const grown = second.get('audit/segment.jsonl')!;
    expect(grown.startsWith(first.get('audit/segment.jsonl')!)).toBe(true);
    const added = grown.slice(first.get('audit/segment.jsonl')!.length).trimEnd().split('\n');
    expect(added.map((line) => JSON.parse(line).action)).toEqual(['report.pack']);
    expect(second.get('audit/checkpoints.jsonl')).toBe(first.get('audit/checkpoints.jsonl'));
  });
});
