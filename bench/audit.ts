import { randomBytes } from 'node:crypto';
import {
  type AuditEntry,
  appendAudit,
  type ChainHead,
  GENESIS_HASH,
  sealRecord,
  verifyAudit,
} from '../audit/index.js';
import { type Db, migrate, openDb } from '../platform/db/index.js';
import { type Figures, median, type Section } from './figures.js';

const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RECORDS = Number(process.env.BENCH_AUDIT_RECORDS ?? 1_000_000);
const T0 = Date.UTC(2026, 0, 1);

/** A record the size of a real one: an operator granting real time, with before and after state. */
function entry(i: number): AuditEntry {
  return {
    actor: { type: 'operator', id: `op-${i % 7}`, role: 'admin' },
    action: 'grant.create',
    subject: `user:u${i % 50_000}`,
    before: null,
    after: { product: 'UTP', realtime: true, validFrom: T0 + i, validTo: T0 + i + 2_592_000_000, fee: 1.25 },
    at: T0 + i,
  };
}

/**
 * Builds a chained log of `count` records in bulk: sealed in process exactly as appends seal them,
 * inserted 20 000 rows per statement, since a million single appends would take minutes.
 */
async function fillLog(db: Db, count: number): Promise<void> {
  let head: ChainHead = { seq: 0, hash: GENESIS_HASH };
  const batch = 20_000;
  for (let from = 1; from <= count; from += batch) {
    const columns: unknown[][] = Array.from({ length: 12 }, () => []);
    for (let i = from; i < Math.min(from + batch, count + 1); i++) {
      const r = sealRecord(head, entry(i));
      const values = [
        r.seq,
        r.at,
        r.actorType,
        r.actorId,
        r.actorRole,
        r.action,
        r.subject,
        r.before,
        r.after,
      ];
      for (const [c, value] of [...values, r.details, r.prevHash, r.hash].entries()) columns[c]?.push(value);
      head = r;
    }
    await db.query(
      'insert into audit_log (seq, at, actor_type, actor_id, actor_role, action, subject, before_json, ' +
        'after_json, details_json, prev_hash, hash) select * from unnest($1::int8[], $2::int8[], $3::text[], ' +
        '$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])',
      columns,
    );
  }
  await db.query('update audit_head set seq = $1, hash = $2 where id = 1', [head.seq, head.hash]);
  await db.query('analyze audit_log');
}

/** Records verified per second over the whole log, median of three walks. */
async function verifyRecordsPerSecond(db: Db): Promise<number> {
  const runs: number[] = [];
  for (let run = 0; run < 3; run++) {
    const started = performance.now();
    const result = await verifyAudit(db);
    if (!result.ok || result.records !== RECORDS)
      throw new Error(`bench log failed to verify: ${JSON.stringify(result)}`);
    runs.push(result.records / ((performance.now() - started) / 1000));
  }
  return median(runs);
}

/** Appends/s from 16 connections at once, each in its own transaction: the cost of the chain lock. */
async function appendsPerSecond(db: Db): Promise<number> {
  const perWorker = 250;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; i < perWorker; i++)
        await db.transaction((tx) => appendAudit(tx, entry(w * perWorker + i)));
    }),
  );
  return (16 * perWorker) / ((performance.now() - started) / 1000);
}

export const auditSection: Section = {
  name: 'audit',
  async run(): Promise<Figures> {
    const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
    const db = await openDb({ url: POSTGRES_URL, schema, poolSize: 16 });
    try {
      await migrate(db);
      await fillLog(db, RECORDS);
      const verify = await verifyRecordsPerSecond(db);
      const append = await appendsPerSecond(db);
      return {
        audit_verify_records_per_s: {
          value: verify,
          unit: 'records/s',
          goal: `${RECORDS.toLocaleString('en-US')} records verified in seconds`,
        },
        audit_append_per_s: { value: append, unit: 'appends/s', goal: 'baseline (16 connections)' },
      };
    } finally {
      await db.query(`drop schema ${schema} cascade`);
      await db.close();
    }
  },
};
