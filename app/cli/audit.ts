import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebStream } from 'node:stream/web';
import {
  type AuditFilter,
  auditFilterSchema,
  type Checkpoint,
  describeIssues,
  loadCheckpointKey,
  recordJson,
  streamAudit,
  takeCheckpoint,
  type VerifyResult,
  verifyAudit,
} from '../../audit/index.js';
import type { Env } from '../../config/index.js';
import type { Db } from '../../platform/db/index.js';
import { type EvidencePack, packEvidence } from '../../usage/index.js';
import { checkpointOptions } from '../options.js';
import { CliError, type Command } from './command.js';
import { loadEnvironment } from './environment.js';
import { monthOption } from './month-args.js';
import { writeOutput } from './output.js';
import { type HubApi, reachDatabase } from './reach.js';

const SUBCOMMANDS = ['verify', 'export', 'checkpoint', 'pack'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];
type Values = Record<string, string | boolean | undefined>;

export const auditCommand: Command = {
  name: 'audit',
  summary: "verify, export or checkpoint the tamper-evident audit log; pack a month's evidence",
  options: {
    month: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    subject: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `Usage: mdhub audit verify [--json]
       mdhub audit export [--from TIME] [--to TIME] [--subject SUBJECT] [--out FILE]
       mdhub audit checkpoint
       mdhub audit pack --month YYYY-MM --out FILE.tar.gz

verify      Walks the whole hash chain in sequence order and checks every record's hash, every
            link to the record before, that no sequence number is missing, and that the log
            agrees with every signed checkpoint in MDHUB_AUDIT_DIR and the witnesses
            (MDHUB_AUDIT_WITNESS_DIR, MDHUB_AUDIT_WITNESS_URL), that no checkpoint the log or a
            witness remembers is gone, and that a log older than two MDHUB_AUDIT_CHECKPOINT_MS
            has one. Needs only the public key (MDHUB_AUDIT_PUBLIC_KEY_FILE). Prints one line;
            exits 1 naming the first bad record and why (altered, missing, reordered,
            checkpoint_mismatch, truncated, checkpoints_missing, bad_checkpoint,
            witness_unavailable). --json prints the full result instead.
export      Writes the matching records as JSON lines, in sequence order, streamed: each line is
            the record's canonical JSON including prevHash and hash, so an auditor can re-verify
            it offline (docs/audit.md). TIME is epoch milliseconds, a UTC date (2026-01-31) or
            an ISO-8601 time with a zone (2026-01-31T09:30:00Z); --from is inclusive, --to
            exclusive. Without --out, lines go to stdout.
checkpoint  Verifies the records since the last checkpoint, then signs the head (sequence, hash,
            time) with the Ed25519 checkpoint key, appends it to
            MDHUB_AUDIT_DIR/checkpoints.jsonl and the witnesses, and records it in the log.
            'mdhub start' does this within a second of a privileged change and at least every
            MDHUB_AUDIT_CHECKPOINT_MS while the log grows.
pack        Writes the month's evidence pack for an auditor: every filing and amendment of the
            month byte for byte, the grants, agreements and attestations of every user they
            count, the audit log from the month's first record to the chain head, the signed
            checkpoints over it with the public key, a manifest of SHA-256s, and verify.mjs, which
            re-verifies all of it offline with Node alone ('node verify.mjs' in the unpacked
            folder prints ok, or the first thing wrong). Refused for a month with no filing, and
            while the month's last filing is not under a signed checkpoint (take one first).
            The hand-out is recorded in the audit log with the archive's SHA-256 (docs/audit.md).

The database is DATABASE_URL, or the embedded PGlite under MDHUB_DATA_DIR. Checkpoints live in
MDHUB_AUDIT_DIR (default MDHUB_DATA_DIR/audit), signed with MDHUB_AUDIT_KEY_FILE (a PEM Ed25519
private key; keep it outside the data directory) or, when unset, a key generated once as
MDHUB_AUDIT_DIR/checkpoint-key.pem.

While a hub runs on the same embedded database (MDHUB_DATA_DIR), each subcommand runs through
its admin API (GET /admin/audit/verify, GET /admin/audit/export, POST /admin/audit/checkpoint)
with the same output, using MDHUB_OPERATOR_TOKEN or MDHUB_ADMIN_TOKEN; without a token it is
refused.`,

  async run(values, positionals) {
    const [name, ...extra] = positionals;
    if (!SUBCOMMANDS.includes(name as Subcommand)) {
      throw new CliError(`audit needs one of ${SUBCOMMANDS.join(', ')} (see mdhub audit --help)`, 2);
    }
    if (extra.length > 0) throw new CliError(`unexpected argument '${extra[0]}' (see mdhub audit --help)`, 2);
    const subcommand = name as Subcommand;
    const allowed: Record<Subcommand, readonly string[]> = {
      verify: ['json'],
      export: ['from', 'to', 'subject', 'out'],
      checkpoint: [],
      pack: ['month', 'out'],
    };
    const stray = Object.keys(values).find(
      (key) => values[key] !== undefined && !allowed[subcommand].includes(key),
    );
    if (stray)
      throw new CliError(`--${stray} does not apply to 'audit ${subcommand}' (see mdhub audit --help)`, 2);

    // Arguments are checked before the database is opened, so a typo fails fast.
    const filter = subcommand === 'export' ? exportFilter(values) : undefined;
    const pack = subcommand === 'pack' ? packArgs(values) : undefined;
    const { env, logger } = loadEnvironment();
    const { db, hub } = await reachDatabase(env, logger, 'mdhub audit');
    if (hub) return pack ? await packThroughHub(hub, pack) : await throughHub(hub, subcommand, values);
    try {
      const { rows } = await db.query<{ table: string | null }>(
        "select to_regclass('audit_log')::text as table",
      );
      if (!rows[0]?.table) throw new CliError("the database has no audit log yet; run 'mdhub migrate' first");
      if (subcommand === 'verify') return await verify(db, env, values);
      if (filter) return await exportRecords(db, filter, values.out as string | undefined);
      if (pack) return await packDirect(db, env, pack);
      return await checkpoint(db, env);
    } finally {
      await db.close();
    }
  },
};

async function verify(db: Db, env: Env, values: Values): Promise<number> {
  const result = await verifyAudit(db, {
    checkpoints: checkpointOptions(env),
    checkpointIntervalMs: env.MDHUB_AUDIT_CHECKPOINT_MS,
  });
  return printVerify(result, values);
}

function printVerify(result: VerifyResult, values: Values): number {
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return result.ok ? 0 : 1;
  }
  if (!result.ok) throw new CliError(`audit log is not intact: ${result.message} (${result.reason})`);
  process.stdout.write(
    `audit log intact: ${result.records} records, agreeing with ${result.checkpoints} signed checkpoints\n`,
  );
  for (const witness of result.witnesses) {
    if (witness.behind > 0)
      process.stderr.write(
        `note: ${witness.variable} ${witness.where} lacks ${witness.behind} checkpoints not delivered yet (the hub retries)\n`,
      );
  }
  return 0;
}

function exportFilter(values: Values): AuditFilter {
  const parsed = auditFilterSchema.safeParse({ from: values.from, to: values.to, subject: values.subject });
  if (!parsed.success)
    throw new CliError(
      describeIssues(parsed.error, (key) => `--${key}`),
      2,
    );
  return parsed.data;
}

async function exportRecords(db: Db, filter: AuditFilter, file: string | undefined): Promise<number> {
  let count = 0;
  async function* lines() {
    for await (const record of streamAudit(db, filter)) {
      count++;
      yield `${recordJson(record, true)}\n`;
    }
  }
  // pipeline: backpressure, and a write error (disk full) fails the export instead of crashing.
  await pipeline(Readable.from(lines()), file ? createWriteStream(file) : process.stdout);
  process.stderr.write(`exported ${count} audit records${file ? ` to ${file}` : ''}\n`);
  return 0;
}

async function checkpoint(db: Db, env: Env): Promise<number> {
  const options = checkpointOptions(env);
  const key = await loadCheckpointKey(options, { create: true });
  if (!key) throw new CliError('the audit checkpoint key could not be created');
  const result = await takeCheckpoint(db, options, { key });
  if (!result.ok) throw new CliError(`refusing to checkpoint: ${result.message} (${result.reason})`);
  return printCheckpoint(result.latest, result.file, result.undelivered);
}

function printCheckpoint(
  signed: Checkpoint | undefined,
  file: string,
  undelivered: readonly string[],
): number {
  process.stdout.write(
    signed ? `checkpoint signed at record ${signed.seq} (${signed.hash}) in ${file}\n` : 'no checkpoint\n',
  );
  for (const problem of undelivered) {
    process.stderr.write(`warning: the checkpoint did not reach a witness: ${problem}\n`);
  }
  return 0;
}

/**
 * The same subcommands through a running hub's admin API, printing exactly what they print when
 * run directly; the arguments were checked already, so the API's own checks never differ.
 */
async function throughHub(hub: HubApi, subcommand: Subcommand, values: Values): Promise<number> {
  if (subcommand === 'verify') {
    const response = await hub.request('GET', '/admin/audit/verify');
    return printVerify((await response.json()) as VerifyResult, values);
  }
  if (subcommand === 'checkpoint') {
    try {
      const response = await hub.request('POST', '/admin/audit/checkpoint');
      const { latest, file, undelivered } = (await response.json()) as {
        latest: Checkpoint | null;
        file: string;
        undelivered?: string[];
      };
      return printCheckpoint(latest ?? undefined, file, undelivered ?? []);
    } catch (error) {
      if (error instanceof CliError) throw new CliError(`refusing to checkpoint: ${error.message}`);
      throw error;
    }
  }
  const file = values.out as string | undefined;
  const response = await hub.request('GET', '/admin/audit/export', {
    from: values.from as string | undefined,
    to: values.to as string | undefined,
    subject: values.subject as string | undefined,
  });
  let count = 0;
  const body = Readable.fromWeb(response.body as WebStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x0a) count++;
  });
  await pipeline(body, file ? createWriteStream(file) : process.stdout);
  process.stderr.write(`exported ${count} audit records${file ? ` to ${file}` : ''}\n`);
  return 0;
}

interface PackArgs {
  month: string;
  out: string;
}

function packArgs(values: Values): PackArgs {
  const month = monthOption(values, 'audit');
  const out = values.out as string | undefined;
  if (out === undefined || out === '')
    throw new CliError(
      '--out FILE.tar.gz is required: where the pack is written (see mdhub audit --help)',
      2,
    );
  return { month, out };
}

type PackFacts = Pick<EvidencePack, 'filings' | 'users' | 'firstSeq' | 'head' | 'checkpoints' | 'files'>;

async function packDirect(db: Db, env: Env, args: PackArgs): Promise<number> {
  const pack = await packEvidence(
    db,
    { actor: { type: 'system', id: 'cli' }, at: Date.now(), month: args.month },
    { checkpoints: checkpointOptions(env) },
  );
  await writeOutput(args.out, pack.bytes);
  return printPack(args, pack.bytes.length, pack.sha256, pack.auditSeq, pack);
}

async function packThroughHub(hub: HubApi, args: PackArgs): Promise<number> {
  const response = await hub.request('GET', '/admin/audit/pack', { month: args.month });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const facts = JSON.parse(response.headers.get('x-pack-summary') ?? '{}') as PackFacts;
  await writeOutput(args.out, bytes);
  return printPack(
    args,
    bytes.length,
    response.headers.get('x-pack-sha256') ?? '?',
    Number(response.headers.get('x-pack-audit-seq')),
    facts,
  );
}

function printPack(
  args: PackArgs,
  bytes: number,
  sha256: string,
  auditSeq: number,
  facts: PackFacts,
): number {
  process.stdout.write(
    `evidence pack of ${args.month} written to ${args.out}\n` +
      `  sha256 ${sha256}, ${bytes} bytes, ${facts.files} files\n` +
      `  filings ${facts.filings.join(', ')}; ${facts.users} counted users\n` +
      `  audit records ${facts.firstSeq} to ${facts.head.seq} (the chain head), ${facts.checkpoints} signed checkpoints\n` +
      `  handed out as audit record ${auditSeq}\n` +
      `verify it offline: tar xzf ${args.out} && node mdhub-evidence-${args.month}/verify.mjs\n`,
  );
  return 0;
}
