import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AuditRecord,
  auditRoutes,
  canonicalJson,
  GENESIS_HASH,
  parseInstant,
  recordJson,
  streamAudit,
} from '../../audit/index.js';
import type { Db } from '../../platform/db/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { ENGINES, openTestDb, type TestDb } from '../helpers/db.js';
import { appendRange, T0, tamper } from './chain-fixtures.js';

describe('audit query times', () => {
  it('reads epoch ms, UTC dates and ISO-8601 times with a zone', () => {
    expect(parseInstant('1767225600000')).toBe(T0);
    expect(parseInstant('2026-01-01')).toBe(T0);
    expect(parseInstant('2026-01-01T00:00:00Z')).toBe(T0);
    expect(parseInstant('2026-01-01T01:30+01:30')).toBe(T0);
    expect(parseInstant('2025-12-31T19:00:00.250-05:00')).toBe(T0 + 250);
  });

  it('refuses times without a zone, impossible dates and anything else', () => {
    for (const text of [
      '2026-01-01T00:00:00',
      '2026-02-30',
      '2026-13-01',
      '2026-01-01T24:00Z',
      'yesterday',
      '',
      '-5',
    ]) {
      expect(parseInstant(text), text).toBeUndefined();
    }
  });
});

describe.each(ENGINES)('audit query and export on %s', (engine) => {
  let testDb: TestDb;
  let db: Db;
  let app: App;
  const get = async (path: string) => {
    const res = await app.request(path);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const page = async (query: string) => {
    const { status, body } = await get(`/admin/audit?${query}`);
    expect(status).toBe(200);
    return body as { records: AuditRecord[]; next: number | null };
  };

  beforeAll(async () => {
    testDb = await openTestDb(engine);
    db = testDb.db;
    // Records 1..40 at T0 + i s; subjects cycle over user:u0..u4.
    await appendRange(db, 1, 40);
    app = createApp({ logger: silentLogger, metrics: createMetricsRegistry(), health: new HealthChecks() });
    app.route('/admin', auditRoutes(db));
  });
  afterAll(async () => {
    await testDb.cleanup();
  });

  it('pages through the log by sequence cursor', async () => {
    const first = await page('limit=15');
    expect(first.records.map((r) => r.seq)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(first.next).toBe(15);
    const seen = [...first.records];
    let next = first.next;
    while (next !== null) {
      const more = await page(`limit=15&after=${next}`);
      seen.push(...more.records);
      next = more.next;
    }
    expect(seen.map((r) => r.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(seen[0]).toMatchObject({
      seq: 1,
      prevHash: GENESIS_HASH,
      actor: { type: 'operator', role: 'admin' },
    });
  });

  it('filters by subject and by time, from inclusive and to exclusive', async () => {
    const bySubject = await page('subject=user:u2');
    expect(bySubject.records.map((r) => r.seq)).toEqual([2, 7, 12, 17, 22, 27, 32, 37]);
    expect(bySubject.next).toBeNull();
    const from = new Date(T0 + 10_000).toISOString();
    const byTime = await page(`from=${from}&to=${T0 + 20_000}`);
    expect(byTime.records.map((r) => r.seq)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const both = await page(`subject=user:u2&from=${T0 + 10_000}&to=${T0 + 30_000}&limit=2`);
    expect(both).toMatchObject({ records: [{ seq: 12 }, { seq: 17 }], next: 17 });
    expect(
      await page(`subject=user:u2&from=${T0 + 10_000}&to=${T0 + 30_000}&limit=2&after=17`),
    ).toMatchObject({
      records: [{ seq: 22 }, { seq: 27 }],
    });
  });

  it('answers bad parameters with the error envelope, naming each', async () => {
    const cases: Array<[string, RegExp]> = [
      ['from=2026-01-01T00:00:00', /^from must be epoch milliseconds, a date/],
      ['limit=0', /^limit /],
      ['limit=1001', /^limit /],
      ['after=-1', /^after must be a record sequence number/],
      [`from=${T0 + 5}&to=${T0}`, /^to must be after from/],
      ['subjet=user:u1', /subjet/],
    ];
    for (const [query, message] of cases) {
      const { status, body } = await get(`/admin/audit?${query}`);
      expect(status, query).toBe(400);
      expect(body.error).toMatchObject({ code: 'invalid_query', message: expect.stringMatching(message) });
      expect((body.error as { requestId: string }).requestId).toBeTruthy();
    }
  });

  it('exports lines an auditor can re-verify offline with nothing but SHA-256 and canonical JSON', async () => {
    const lines: string[] = [];
    for await (const record of streamAudit(db, {}, 7)) lines.push(recordJson(record, true));
    expect(lines).toHaveLength(40);
    let previous = GENESIS_HASH;
    lines.forEach((line, i) => {
      const { hash, ...rest } = JSON.parse(line) as AuditRecord;
      expect(line).toBe(canonicalJson(JSON.parse(line)));
      expect(rest.seq).toBe(i + 1);
      expect(rest.prevHash).toBe(previous);
      expect(createHash('sha256').update(canonicalJson(rest)).digest('hex')).toBe(hash);
      previous = hash;
    });
  });

  it('exports a time range, and a subject within it, in sequence order', async () => {
    const seqs = async (filter: Parameters<typeof streamAudit>[1]) => {
      const out: number[] = [];
      for await (const record of streamAudit(db, filter, 3)) out.push(record.seq);
      return out;
    };
    expect(await seqs({ from: T0 + 25_000, to: T0 + 33_000 })).toEqual([25, 26, 27, 28, 29, 30, 31, 32]);
    expect(await seqs({ from: T0 + 25_000, subject: 'user:u1' })).toEqual([26, 31, 36]);
    expect(await seqs({ from: T0 + 100_000 })).toEqual([]);
  });

  it('reports verification over HTTP', async () => {
    expect(await get('/admin/audit/verify')).toMatchObject({ status: 200, body: { ok: true, records: 40 } });
    await tamper(db, "update audit_log set subject = 'user:u4' where seq = 33");
    expect(await get('/admin/audit/verify')).toMatchObject({
      status: 200,
      body: { ok: false, firstBad: 33, reason: 'altered' },
    });
  });
});
