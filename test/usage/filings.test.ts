/**
 * Filings of the scripted March (ledger-script.ts): refused while the month is open, the exact
 * bytes kept append-only and audited, a late usage event and a late-recorded attestation drifting
 * the month (the list, the gauge and the diff say so, naming the subscriber and why), and
 * amendments carrying their delta, chained filing → amendment → amendment.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../audit/index.js';
import { attest } from '../../entitlements/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';
import { createMetricsRegistry, type Registry } from '../../platform/metrics.js';
import {
  amendFiling,
  type DetailRow,
  type DriftWatch,
  diffMonth,
  type Filing,
  fileReport,
  generateUsageReport,
  listFilings,
  readFiledFile,
  startDriftWatch,
  type UsageEvent,
  writeLedger,
} from '../../usage/index.js';
import { forEachDb } from '../helpers/db.js';
import { COMPLIANCE, scriptCatalog, scriptEvents, scriptHistory, t } from './ledger-script.js';

const catalog = scriptCatalog();
const FILED_AT = t('2026-04-02T09:00:00Z');
const SUPPORT: Actor = { type: 'operator', id: 'sam', role: 'support' };
const FINANCE: Actor = { type: 'operator', id: 'fay', role: 'finance' };

/** dave's phone on UTP, caught up by a meter after March was filed. */
const LATE: UsageEvent = {
  v: 1,
  id: 'ev-late-dave-utp',
  edge: 'e3',
  at: t('2026-03-20T10:00:00Z'),
  day: '2026-03-20',
  user: 'dave',
  device: 'dave-phone',
  kind: 'first_access',
  session: 'd9',
  product: 'UTP',
};
const LATE_RECEIVED = t('2026-04-03T10:00:00Z');

const DAVE_UTP: DetailRow = {
  product: 'UTP',
  category: 'non_professional',
  user: 'dave',
  device: 'dave-phone',
  basis: 'accessed',
  entitled: false,
  accessed: true,
  firstAccess: '2026-03-20T10:00:00.000Z',
  lastAccess: '2026-03-20T10:00:00.000Z',
  devices: 1,
  queries: 0,
  fee: '1.000000',
};

const BOB_CTA: DetailRow[] = [
  {
    product: 'CTA_A',
    category: 'professional',
    user: 'bob',
    device: null,
    basis: 'entitled',
    entitled: true,
    accessed: true,
    firstAccess: '2026-03-03T09:00:00.000Z',
    lastAccess: '2026-03-03T09:09:59.000Z',
    devices: 1,
    queries: 0,
    fee: '45.000000',
  },
  {
    product: 'CTA_B',
    category: 'professional',
    user: 'bob',
    device: null,
    basis: 'entitled',
    entitled: true,
    accessed: false,
    firstAccess: null,
    lastAccess: null,
    devices: 0,
    queries: 0,
    fee: '13.650000',
  },
];

function file(db: Db, at: number, input: { month: string; licensor?: string }, actor: Actor = COMPLIANCE) {
  return db.transaction((tx) => fileReport({ ctx: { actor, tx, at, catalog }, input }));
}

function amend(db: Db, at: number, input: Parameters<typeof amendFiling>[0]['input'], actor = COMPLIANCE) {
  return db.transaction((tx) => amendFiling({ ctx: { actor, tx, at, catalog }, input }));
}

async function gaugeText(registry: Registry): Promise<string> {
  return (await registry.getSingleMetricAsString('mdhub_report_drift'))
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
}

forEachDb((_engine, getDb) => {
  let whole: Filing;
  let utp: Filing;
  let registry: Registry;
  let watch: DriftWatch;

  beforeAll(async () => {
    const db = getDb();
    await scriptHistory(db, catalog);
    await db.transaction((tx) => writeLedger(tx, scriptEvents()));
    registry = createMetricsRegistry({ defaultMetrics: false });
    watch = startDriftWatch({ db, catalog, metrics: registry, intervalMs: 3_600_000 });
  });

  afterAll(async () => {
    await watch?.stop();
  });

  describe('filing', () => {
    it('refuses a month that is not over, saying when it ends', async () => {
      const open = file(getDb(), t('2026-03-31T23:59:59Z'), { month: '2026-03' });
      await expect(open).rejects.toMatchObject({
        kind: 'conflict',
        code: 'month_open',
        message: expect.stringContaining('2026-03 is not over: it ends at 2026-04-01T00:00:00.000Z'),
      });
      expect((await listFilings(getDb(), catalog, { at: FILED_AT })).filings).toEqual([]);
    });

    it('refuses support and finance: only admin and compliance file', async () => {
      for (const actor of [SUPPORT, FINANCE])
        await expect(file(getDb(), FILED_AT, { month: '2026-03' }, actor)).rejects.toMatchObject({
          kind: 'forbidden',
        });
    });

    it('keeps the exact bytes of the four renderings, their hashes in the filing and its audit record', async () => {
      const db = getDb();
      whole = await file(db, FILED_AT, { month: '2026-03' });
      expect(whole).toMatchObject({
        month: '2026-03',
        licensor: null,
        kind: 'filing',
        replaces: null,
        catalogVersion: 'test-2026.1',
        filedAt: FILED_AT,
        filedBy: COMPLIANCE,
      });
      expect(whole.files.map((f) => `${f.format}:${f.detail}`)).toEqual([
        'json:false',
        'json:true',
        'csv:false',
        'csv:true',
      ]);
      for (const f of whole.files) {
        const generated = await generateUsageReport(db, catalog, '2026-03', {
          format: f.format,
          detail: f.detail,
        });
        const filed = await readFiledFile(db, whole.id, f.format, f.detail);
        expect(filed.body.toString('utf8')).toBe(generated.body);
        expect(createHash('sha256').update(filed.body).digest('hex')).toBe(f.sha256);
        expect(f.sha256).toBe(generated.sha256);
        expect(f.bytes).toBe(filed.body.length);
      }
      const { rows } = await db.query<{
        seq: number;
        action: string;
        actor_id: string;
        details_json: string;
      }>('select seq, action, actor_id, details_json from audit_log where seq = $1', [whole.auditSeq]);
      expect(rows[0]).toMatchObject({ action: 'report.file', actor_id: 'cathy' });
      expect(JSON.parse(rows[0]!.details_json)).toEqual({
        filing: whole.id,
        month: '2026-03',
        licensor: null,
        catalogVersion: 'test-2026.1',
        files: whole.files,
      });
    });

    it('refuses to file the same month and licensor scope twice: a change is an amendment', async () => {
      await expect(file(getDb(), FILED_AT + 1, { month: '2026-03' })).rejects.toMatchObject({
        kind: 'conflict',
        code: 'already_filed',
        message: `2026-03 (all licensors) was filed already (filing ${whole.id}); file an amendment to it instead`,
      });
    });

    it('files one licensor on its own chain, holding only its products', async () => {
      const db = getDb();
      utp = await file(db, FILED_AT + 60_000, { month: '2026-03', licensor: 'UTP' });
      expect(utp.licensor).toBe('UTP');
      const filed = JSON.parse((await readFiledFile(db, utp.id, 'json', true)).body.toString('utf8'));
      expect(filed.feeSchedules.map((s: { product: string }) => s.product)).toEqual(['UTP']);
      expect(filed.rows.map((r: { product: string }) => r.product)).toEqual(['UTP', 'UTP']);
      expect(new Set(filed.details.map((d: { product: string }) => d.product))).toEqual(new Set(['UTP']));
      await expect(file(db, FILED_AT, { month: '2026-03', licensor: 'OPRA' })).rejects.toMatchObject({
        code: 'unknown_licensor',
      });
    });

    it('refuses UPDATE, DELETE and TRUNCATE of the filings tables, even of no row', async () => {
      const db = getDb();
      for (const sql of [
        "update report_filings set reason = 'edited'",
        'update report_filings set licensor = null where id = -1',
        'delete from report_filings where id = -1',
        'truncate report_filings cascade',
        "update report_filing_files set body = '\\x00'::bytea",
        'delete from report_filing_files',
        'truncate report_filing_files',
      ])
        await expect(db.query(sql), sql).rejects.toThrow(/filings are append-only/);
      expect((await readFiledFile(db, whole.id, 'csv', true)).sha256).toBe(whole.files[3]!.sha256);
    });

    it('lists both filings as matching the live report, and the watch agrees', async () => {
      const list = await listFilings(getDb(), catalog, { month: '2026-03', at: FILED_AT });
      expect(list.filings.map((f) => [f.id, f.licensor, f.replacedBy, f.matchesLive])).toEqual([
        [whole.id, null, null, true],
        [utp.id, 'UTP', null, true],
      ]);
      const state = await watch.refresh();
      expect(state.chains.map((c) => [c.licensor, c.drifted])).toEqual([
        [null, false],
        ['UTP', false],
      ]);
      expect(await gaugeText(registry)).toBe(
        'mdhub_report_drift{month="2026-03",licensor="all"} 0\nmdhub_report_drift{month="2026-03",licensor="UTP"} 0',
      );
    });
  });

  describe('drift', () => {
    it('counts a late event for the filed month, marks it late once, and drifts both chains', async () => {
      const db = getDb();
      const write = await db.transaction((tx) => writeLedger(tx, [LATE], { receivedAt: LATE_RECEIVED }));
      expect(write).toMatchObject({ late: 1, duplicates: 0 });
      const again = await db.transaction((tx) => writeLedger(tx, [LATE], { receivedAt: LATE_RECEIVED + 1 }));
      expect(again).toMatchObject({ late: 0, duplicates: 1 });
      const { rows } = await db.query('select event_id, month, filing_id, kind, received_at from usage_late');
      expect(rows).toEqual([
        {
          event_id: LATE.id,
          month: '2026-03',
          filing_id: utp.id,
          kind: 'first_access',
          received_at: LATE_RECEIVED,
        },
      ]);

      const list = await listFilings(db, catalog, { at: LATE_RECEIVED });
      expect(list.filings.map((f) => f.matchesLive)).toEqual([false, false]);
      await watch.refresh();
      expect(await gaugeText(registry)).toBe(
        'mdhub_report_drift{month="2026-03",licensor="all"} 1\nmdhub_report_drift{month="2026-03",licensor="UTP"} 1',
      );
    });

    it('diffs the month row by row and subscriber by subscriber, naming the late event', async () => {
      const diff = await diffMonth(getDb(), catalog, { month: '2026-03' });
      expect(diff).toMatchObject({
        month: '2026-03',
        licensor: null,
        matches: false,
        lateEvents: 1,
        catalogVersion: null,
      });
      expect(diff.filing.id).toBe(whole.id);
      expect(diff.rows).toEqual([
        {
          product: 'UTP',
          category: 'non_professional',
          change: 'changed',
          before: {
            product: 'UTP',
            category: 'non_professional',
            subscribers: 1,
            devices: 1,
            queries: 0,
            fee: '1.000000',
          },
          after: {
            product: 'UTP',
            category: 'non_professional',
            subscribers: 2,
            devices: 2,
            queries: 0,
            fee: '2.000000',
          },
        },
      ]);
      expect(diff.subscribers).toEqual([
        {
          product: 'UTP',
          user: 'dave',
          device: 'dave-phone',
          change: 'added',
          before: null,
          after: DAVE_UTP,
          lateEvents: [
            {
              id: LATE.id,
              kind: 'first_access',
              product: 'UTP',
              user: 'dave',
              device: 'dave-phone',
              day: '2026-03-20',
              at: LATE.at,
              receivedAt: LATE_RECEIVED,
            },
          ],
          corrections: [],
        },
      ]);
      await expect(diffMonth(getDb(), catalog, { month: '2026-02' })).rejects.toMatchObject({
        code: 'not_filed',
      });
    });
  });

  describe('amendments', () => {
    let first: Filing;

    it('files the regenerated bytes with the delta against the filing it replaces, audited with the reason', async () => {
      const db = getDb();
      const amended = await amend(db, LATE_RECEIVED + 3_600_000, {
        month: '2026-03',
        reason: 'dave-phone caught up late',
      });
      first = amended;
      expect(amended).toMatchObject({
        kind: 'amendment',
        replaces: whole.id,
        reason: 'dave-phone caught up late',
      });
      expect(amended.delta).toMatchObject({
        replaces: whole.id,
        month: '2026-03',
        licensor: null,
        catalogVersion: null,
      });
      expect(amended.delta.rows).toHaveLength(1);
      expect(
        amended.delta.subscribers.map((s) => [s.change, s.user, s.after, s.lateEvents.map((e) => e.id)]),
      ).toEqual([['added', 'dave', DAVE_UTP, [LATE.id]]]);
      const { rows } = await db.query<{ delta_json: string }>(
        'select delta_json from report_filings where id = $1',
        [amended.id],
      );
      expect(rows[0]!.delta_json).toBe(canonicalJson(amended.delta));
      const audit = await db.query<{ action: string; details_json: string }>(
        'select action, details_json from audit_log where seq = $1',
        [amended.auditSeq],
      );
      expect(audit.rows[0]!.action).toBe('report.amend');
      expect(JSON.parse(audit.rows[0]!.details_json)).toMatchObject({
        filing: amended.id,
        replaces: whole.id,
        reason: 'dave-phone caught up late',
        files: amended.files,
        delta: {
          sha256: createHash('sha256').update(rows[0]!.delta_json).digest('hex'),
          rows: 1,
          subscribers: 1,
        },
      });
      const generated = await generateUsageReport(db, catalog, '2026-03', { format: 'csv', detail: true });
      expect((await readFiledFile(db, amended.id, 'csv', true)).body.toString('utf8')).toBe(generated.body);

      const diff = await diffMonth(db, catalog, { month: '2026-03' });
      expect(diff).toMatchObject({ matches: true, rows: [], subscribers: [] });
      expect(diff.filing.id).toBe(amended.id);
      await watch.refresh();
      expect(await gaugeText(registry)).toBe(
        'mdhub_report_drift{month="2026-03",licensor="all"} 0\nmdhub_report_drift{month="2026-03",licensor="UTP"} 1',
      );
    });

    it('refuses an amendment with nothing to amend, or of a filing already amended', async () => {
      const db = getDb();
      await expect(amend(db, LATE_RECEIVED, { month: '2026-03', reason: 'again' })).rejects.toMatchObject({
        kind: 'conflict',
        code: 'no_drift',
      });
      await expect(amend(db, LATE_RECEIVED, { filingId: whole.id, reason: 'again' })).rejects.toMatchObject({
        kind: 'conflict',
        code: 'superseded',
        message: `filing ${whole.id} was amended already; the latest of 2026-03 (all licensors) is filing ${first.id}`,
      });
      await expect(amend(db, LATE_RECEIVED, { month: '2026-03', reason: '  ' })).rejects.toMatchObject({
        code: 'reason_required',
      });
      await expect(amend(db, LATE_RECEIVED, { month: '2026-02', reason: 'x' })).rejects.toMatchObject({
        code: 'not_filed',
      });
      await expect(
        amend(db, LATE_RECEIVED, { month: '2026-03', licensor: 'UTP', reason: 'x' }, FINANCE),
      ).rejects.toMatchObject({ kind: 'forbidden' });
    });

    it('explains a change by an entitlement correction entered after the filing, and chains a second amendment', async () => {
      const db = getDb();
      // bob's non-professional questionnaire, signed in February, found and entered in April.
      const entered = t('2026-04-05T08:00:00Z');
      const effective = t('2026-02-25T00:00:00Z');
      const reason = 'questionnaire signed 2026-02-25, filed late';
      await db.transaction((tx) =>
        attest({
          ctx: { actor: COMPLIANCE, tx, at: entered },
          input: { userId: 'bob', status: 'non_professional', effectiveFrom: effective, reason },
        }),
      );
      await watch.refresh();
      expect(await gaugeText(registry)).toBe(
        'mdhub_report_drift{month="2026-03",licensor="all"} 1\nmdhub_report_drift{month="2026-03",licensor="UTP"} 1',
      );
      const diff = await diffMonth(db, catalog, { month: '2026-03' });
      expect(diff.filing.id).toBe(first.id);
      expect(
        diff.rows.map((r) => [
          r.product,
          r.category,
          r.before?.subscribers,
          r.after?.subscribers,
          r.after?.fee,
        ]),
      ).toEqual([
        ['CTA_A', 'non_professional', 1, 2, '10.500000'],
        ['CTA_A', 'professional', 2, 1, '45.000000'],
        ['CTA_B', 'non_professional', 2, 3, '1.300000'],
        ['CTA_B', 'professional', 2, 1, '13.650000'],
      ]);
      const correction = {
        seq: expect.any(Number),
        action: 'attestation.record',
        enteredAt: entered,
        by: COMPLIANCE,
        effectiveAt: effective,
        product: null,
        reason,
      };
      expect(diff.subscribers).toEqual(
        BOB_CTA.map((before) => ({
          product: before.product,
          user: 'bob',
          device: null,
          change: 'changed',
          before,
          after: {
            ...before,
            category: 'non_professional',
            fee: before.product === 'CTA_A' ? '5.250000' : '0.000000',
          },
          lateEvents: [],
          corrections: [correction],
        })),
      );

      const second = await amend(db, LATE_RECEIVED + 7_200_000, {
        filingId: first.id,
        reason: "bob's late questionnaire",
      });
      expect(second.replaces).toBe(first.id);
      const list = await listFilings(db, catalog, { month: '2026-03', at: LATE_RECEIVED });
      expect(
        list.filings.map((f) => [f.id, f.kind, f.licensor, f.replaces, f.replacedBy, f.matchesLive]),
      ).toEqual([
        [whole.id, 'filing', null, null, first.id, false],
        [utp.id, 'filing', 'UTP', null, null, false],
        [first.id, 'amendment', null, whole.id, second.id, false],
        [second.id, 'amendment', null, first.id, null, true],
      ]);
    });
  });
});
