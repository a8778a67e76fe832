/**
 * An auditor's evidence pack (DESIGN rule 10): one `.tar.gz` holding a month's filings and
 * amendments byte for byte, the entitlement history of every user they count, the audit-log
 * segment from the month's start to the chain head, the signed checkpoints over it with the
 * public key, and `verify.mjs`, a script without dependencies that re-verifies all of it offline
 * (usage/evidence-verify.mjs; docs/audit.md, "Evidence pack"). Everything is read in one
 * snapshot, and the archive is deterministic — files in path order, canonical or fixed-order
 * JSON, fixed modes and times — so the same database gives the same bytes. Handing a pack out
 * is itself audited (`report.pack`, with the archive's SHA-256).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Header, Pack, ReadEntry } from 'tar';
import {
  appendAudit,
  type ChainHead,
  type Checkpoint,
  type CheckpointOptions,
  canonicalJson,
  loadVerifyKey,
  readAuditSegment,
  readCheckpoints,
  recordJson,
  type StoredRecord,
} from '../audit/index.js';
import { packageRoot } from '../config/index.js';
import { authorize, entitlementEvidence } from '../entitlements/index.js';
import type { Actor } from '../platform/actor.js';
import type { Db, Queryable } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import { filingMonth, reportSubject } from './filing-scope.js';
import { type Filing, selectDelta, selectFilingBody, selectFilings } from './filing-store.js';
import type { UsageMonth } from './month.js';

/** The script shipped in every pack, found from the package root in the sources and from dist/ alike. */
export const VERIFY_SCRIPT = join(packageRoot(), 'usage', 'evidence-verify.mjs');

export interface EvidencePackOptions {
  /** Where the hub's signed checkpoints are, and the key verification trusts. */
  checkpoints: CheckpointOptions;
}

export interface PackRequest {
  /** Who asks; needs `reports.pack` (admin, compliance, the CLI). */
  actor: Actor;
  /** When, epoch ms, for the audit record of the hand-out only: the pack itself holds no clock. */
  at: number;
  month: string;
}

export interface EvidencePack {
  month: string;
  /** The archive, `.tar.gz`. */
  bytes: Buffer;
  /** SHA-256 of `bytes`, hex, as the audit record of the hand-out keeps it. */
  sha256: string;
  /** The one folder everything in the archive sits in: `mdhub-evidence-YYYY-MM`. */
  folder: string;
  filings: number[];
  /** Distinct users counted in any of the month's filings. */
  users: number;
  /** The chain head the pack's segment ends at. */
  head: ChainHead;
  /** The first record of the segment. */
  firstSeq: number;
  checkpoints: number;
  files: number;
  /** The audit record of the hand-out. */
  auditSeq: number;
}

interface PackFile {
  path: string;
  body: Buffer;
}

function fileName(format: 'json' | 'csv', detail: boolean): string {
  return `${detail ? 'detail' : 'summary'}.${format}`;
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function text(value: string): Buffer {
  return Buffer.from(value, 'utf8');
}

/** Human-readable JSON whose bytes depend only on the value (its keys are written in a fixed order). */
function pretty(value: unknown): Buffer {
  return text(`${JSON.stringify(value, null, 2)}\n`);
}

function lines(values: readonly string[]): Buffer {
  return text(values.map((v) => `${v}\n`).join(''));
}

function refuse(kind: 'not_found' | 'conflict' | 'unavailable', code: string, message: string): DomainError {
  return new DomainError(kind, code, message);
}

/**
 * Builds the month's pack and records the hand-out. Refused when the month has no filing
 * (`not_filed`: a pack is the proof of what was filed), when the audit log is not intact
 * (`audit_not_intact`), when there is no checkpoint key or the checkpoint file does not verify,
 * and when a filing is not yet under a signed checkpoint (`not_checkpointed`).
 */
export async function packEvidence(
  db: Db,
  request: PackRequest,
  options: EvidencePackOptions,
): Promise<EvidencePack> {
  authorize(request.actor, 'reports.pack');
  const month = filingMonth(request.month);
  const script = await readFile(VERIFY_SCRIPT);
  // One snapshot: the filings, the history and the segment up to the head all of the same instant.
  const content = await db.transaction(async (tx) => {
    await tx.query('set transaction isolation level repeatable read, read only');
    return collect(tx, month, options);
  });
  const folder = `mdhub-evidence-${month.month}`;
  const files = [...content.files, { path: 'verify.mjs', body: script }];
  files.push({ path: 'manifest.json', body: manifest(files) });
  const bytes = await tarGz(folder, files, month.end);
  const digest = sha256(bytes);
  const record = await db.transaction((tx) =>
    appendAudit(tx, {
      actor: request.actor,
      action: 'report.pack',
      subject: reportSubject(month.month),
      details: {
        month: month.month,
        sha256: digest,
        bytes: bytes.length,
        filings: content.filings,
        users: content.users,
        segment: { from: content.firstSeq, to: content.head.seq },
        head: content.head,
      },
      at: request.at,
    }),
  );
  return {
    month: month.month,
    bytes,
    sha256: digest,
    folder,
    filings: content.filings,
    users: content.users,
    head: content.head,
    firstSeq: content.firstSeq,
    checkpoints: content.checkpoints,
    files: files.length,
    auditSeq: record.seq,
  };
}

interface Collected {
  files: PackFile[];
  filings: number[];
  users: number;
  head: ChainHead;
  firstSeq: number;
  checkpoints: number;
}

async function collect(q: Queryable, month: UsageMonth, options: EvidencePackOptions): Promise<Collected> {
  const filings = await selectFilings(q, { month: month.month });
  if (filings.length === 0)
    throw refuse(
      'not_found',
      'not_filed',
      `${month.month} has no filing: an evidence pack is the proof of what was filed, so file the month first (mdhub report file --month ${month.month})`,
    );
  const files: PackFile[] = [];
  const users = new Set<string>();
  const index: unknown[] = [];
  for (const filing of filings) {
    const listed = await filingFiles(q, filing, files, users);
    index.push(listed);
  }
  files.push({ path: 'filings/index.json', body: pretty(index) });

  const evidence = await entitlementEvidence(q, [...users]);
  files.push({ path: 'entitlements/history.jsonl', body: lines(evidence.map((e) => canonicalJson(e))) });

  const read = await readAuditSegment(q, month.start);
  if (!read.ok)
    throw refuse(
      'conflict',
      'audit_not_intact',
      `the audit log is not intact: ${read.message} (${read.reason}); no pack is made from it (see mdhub audit verify)`,
    );
  const { anchor, records, head } = read.segment;
  const signed = await signedCheckpoints(options.checkpoints, anchor, head, records, filings);
  files.push(
    { path: 'audit/segment.jsonl', body: lines(records.map((r) => recordJson(r, true))) },
    { path: 'audit/head.json', body: pretty({ seq: head.seq, hash: head.hash }) },
    { path: 'audit/checkpoints.jsonl', body: lines(signed.checkpoints.map((c) => canonicalJson(c))) },
    { path: 'audit/checkpoint-key.pem', body: text(signed.publicKeyPem) },
  );
  const firstSeq = records[0]?.seq ?? head.seq;
  const ids = filings.map((f) => f.id);
  files.push({
    path: 'pack.json',
    body: pretty({
      format: 'mdhub-evidence-pack',
      version: 1,
      month: month.month,
      from: new Date(month.start).toISOString(),
      to: new Date(month.end).toISOString(),
      filings: ids,
      countedUsers: users.size,
      segment: { from: firstSeq, to: head.seq },
      checkpointKeySha256: signed.fingerprint,
    }),
  });
  files.push({ path: 'README.txt', body: text(readme(month.month, ids, signed.fingerprint)) });
  return { files, filings: ids, users: users.size, head, firstSeq, checkpoints: signed.checkpoints.length };
}

/** Adds one filing's files (and an amendment's delta) to `files`, its users to `users`; returns its index entry. */
async function filingFiles(
  q: Queryable,
  filing: Filing,
  files: PackFile[],
  users: Set<string>,
): Promise<unknown> {
  const listed = [];
  for (const file of filing.files) {
    const body = await selectFilingBody(q, filing.id, file.format, file.detail);
    if (!body)
      throw new Error(
        `filing ${filing.id} has no ${file.format} ${file.detail ? 'detail' : 'summary'} bytes`,
      );
    const path = `filings/${filing.id}/${fileName(file.format, file.detail)}`;
    files.push({ path, body });
    listed.push({ format: file.format, detail: file.detail, sha256: file.sha256, bytes: file.bytes, path });
    if (file.format === 'json' && file.detail) {
      const report = JSON.parse(body.toString('utf8')) as { details?: Array<{ user: string }> };
      for (const row of report.details ?? []) users.add(row.user);
    }
  }
  let delta: string | undefined;
  if (filing.replaces !== null) {
    const json = await selectDelta(q, filing.id);
    if (typeof json !== 'string') throw new Error(`amendment ${filing.id} has no delta`);
    delta = `filings/${filing.id}/delta.json`;
    files.push({ path: delta, body: text(json) });
  }
  return {
    id: filing.id,
    month: filing.month,
    licensor: filing.licensor,
    kind: filing.kind,
    replaces: filing.replaces,
    catalogVersion: filing.catalogVersion,
    filedAt: new Date(filing.filedAt).toISOString(),
    filedBy: filing.filedBy,
    reason: filing.reason,
    auditSeq: filing.auditSeq,
    files: listed,
    ...(delta === undefined ? {} : { delta }),
  };
}

interface Signed {
  checkpoints: Checkpoint[];
  publicKeyPem: string;
  /** SHA-256 of the key's SPKI DER, hex: what the auditor compares with the published key. */
  fingerprint: string;
}

/**
 * The checkpoints over the segment (from its anchor to the head), from the hub's checkpoint file,
 * each checked against the hub's key; refused when one the segment records is not in the file,
 * or when the last filing is not under any of them, since the pack would not verify.
 */
async function signedCheckpoints(
  options: CheckpointOptions,
  anchor: ChainHead,
  head: ChainHead,
  records: readonly StoredRecord[],
  filings: readonly Filing[],
): Promise<Signed> {
  const key = await loadVerifyKey(options);
  if (!key)
    throw refuse(
      'unavailable',
      'no_checkpoint_key',
      'the audit log has no checkpoint key yet, so nothing in the pack would be signed; take a checkpoint first (mdhub audit checkpoint)',
    );
  const read = await readCheckpoints(options, key);
  if (!read.ok) throw refuse('conflict', 'bad_checkpoint', `the checkpoints do not verify: ${read.message}`);
  const checkpoints = read.checkpoints
    .filter((c) => c.seq >= anchor.seq && c.seq <= head.seq)
    .sort((a, b) => a.seq - b.seq || a.at - b.at);
  const held = new Set(checkpoints.map((c) => `${c.seq} ${c.hash} ${c.at}`));
  for (const record of records) {
    if (record.action !== 'audit.checkpoint' || record.after === null) continue;
    const named = JSON.parse(record.after) as { seq: number; hash: string; at: number };
    if (named.seq >= anchor.seq && !held.has(`${named.seq} ${named.hash} ${named.at}`))
      throw refuse(
        'conflict',
        'checkpoints_missing',
        `audit record ${record.seq} names a checkpoint over record ${named.seq} that the checkpoint file lacks (see mdhub audit verify)`,
      );
  }
  const last = filings.reduce((a, b) => (a.auditSeq >= b.auditSeq ? a : b));
  const latest = checkpoints.at(-1);
  if (!latest || latest.seq < last.auditSeq)
    throw refuse(
      'conflict',
      'not_checkpointed',
      `${last.kind} ${last.id} (audit record ${last.auditSeq}) is not under a signed checkpoint yet` +
        `${latest ? ` (the latest covers record ${latest.seq})` : ''}; take one (mdhub audit checkpoint; a running hub signs one within MDHUB_AUDIT_CHECKPOINT_MS) and pack again`,
    );
  const der = key.publicKeyObject.export({ type: 'spki', format: 'der' });
  return {
    checkpoints,
    publicKeyPem: key.publicKeyObject.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint: sha256(der),
  };
}

/** Every other file's SHA-256 and size, in path order. */
function manifest(files: readonly PackFile[]): Buffer {
  const listed = [...files]
    .sort((a, b) => compare(a.path, b.path))
    .map((f) => ({ path: f.path, sha256: sha256(f.body), bytes: f.body.length }));
  return pretty({ files: listed });
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The archive, built in memory with the `tar` package: entries in path order under one folder,
 * mode 0644, owner 0, and every time `mtime`, so nothing of the machine or the clock gets in.
 */
async function tarGz(folder: string, files: readonly PackFile[], mtime: number): Promise<Buffer> {
  const pack = new Pack({ gzip: true, portable: true });
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const file of [...files].sort((a, b) => compare(a.path, b.path))) {
    const header = new Header({
      path: `${folder}/${file.path}`,
      type: 'File',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: file.body.length,
      mtime: new Date(mtime),
    });
    const entry = new ReadEntry(header);
    entry.end(file.body);
    pack.add(entry);
  }
  pack.end();
  await done;
  return Buffer.concat(chunks);
}

function readme(month: string, filings: readonly number[], fingerprint: string): string {
  return `mdhub evidence pack: ${month}

The usage reports filed for ${month} with the exchanges (filings ${filings.join(', ')}), byte for
byte, with what they rest on, re-verifiable offline.

To verify, with Node.js 18 or later and nothing else, in this folder:

    node verify.mjs

It prints "ok" and a summary, or the first thing wrong (which file, and what) and exits 1.

  filings/index.json           each filing and amendment: who filed it, when, why, its audit record
  filings/<id>/                its four files (summary and detail, JSON and CSV); delta.json for an amendment
  entitlements/history.jsonl   grants, agreements and attestations of every counted user
  audit/segment.jsonl          the audit log from the month's first record to the chain head
  audit/head.json              the chain head
  audit/checkpoints.jsonl      the signed checkpoints over the segment
  audit/checkpoint-key.pem     the public key they are signed with
  manifest.json                every file's SHA-256
  verify.mjs                   the verifier (read it: it is short and uses only Node's crypto)

The checkpoint key's SHA-256 (of its SPKI DER form) is
${fingerprint}
Compare it with the fingerprint the broker gave you apart from this pack: the signatures prove
the log unaltered only if the key is the broker's.
`;
}
