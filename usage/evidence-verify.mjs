#!/usr/bin/env node
/**
 * verify.mjs — re-verifies an mdhub evidence pack offline: `node verify.mjs` in the unpacked
 * folder (or `node verify.mjs DIR` for a pack unpacked elsewhere). Node 18 or later, no dependencies, no network. It prints
 * `ok` and a short summary and exits 0, or prints the first thing wrong (which file, and what)
 * and exits 1. docs/audit.md ("Evidence pack") describes the pack; in order, this script checks:
 *
 * 1. audit/segment.jsonl: every record is canonical JSON (RFC 8785) whose SHA-256 without its
 *    `hash` member is its `hash`, each follows the one before (sequence + 1, `prevHash` = the
 *    previous `hash`), and the last one is the chain head of audit/head.json;
 * 2. audit/checkpoints.jsonl: each checkpoint is signed (Ed25519, over the canonical JSON of
 *    `{at, hash, seq}`) by audit/checkpoint-key.pem and names a record of the segment with that
 *    very hash; every checkpoint the segment records (`audit.checkpoint`) is there;
 * 3. filings/: each filing and amendment of the month is recorded in the segment, under a signed
 *    checkpoint, with the SHA-256 of each of its files (and of an amendment's delta), and no
 *    filing the segment records is left out; each file's bytes hash to what was recorded;
 * 4. each filing's report: every detail row's fee follows the fee schedule in its header, every
 *    summary row (subscribers, devices, queries, fee per product and category) is recomputed from
 *    the detail rows, and the summary JSON and both CSV files say exactly what the detail JSON says;
 * 5. entitlements/history.jsonl holds a line for every counted user;
 * 6. manifest.json: every file of the pack has the SHA-256 listed there.
 *
 * What it cannot check by itself: that audit/checkpoint-key.pem is the broker's key. It prints the
 * key's fingerprint; compare it with the one the broker gave you apart from the pack.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Canonical JSON exactly as the hub writes it (audit/canonical.ts): keys sorted by UTF-16 code
 * units, no whitespace, numbers as ECMAScript prints them, strings escaped as JSON.stringify does;
 * an object member whose value is undefined is left out; anything that is not JSON is refused.
 */
export function canonicalJson(value) {
  switch (typeof value) {
    case 'string':
      if (/[\uD800-\uDFFF]/u.test(value)) throw new TypeError('a string has an unpaired surrogate');
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${value} is not a finite number`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new TypeError(`a ${typeof value} is not JSON`);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const parts = [];
    for (let i = 0; i < value.length; i++) parts.push(canonicalJson(value[i]));
    return `[${parts.join(',')}]`;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new TypeError('not a plain object');
  const parts = [];
  for (const key of Object.keys(value).sort()) {
    if (value[key] === undefined) continue;
    parts.push(`${canonicalJson(key)}:${canonicalJson(value[key])}`);
  }
  return `{${parts.join(',')}}`;
}

/** The first thing wrong: where, and what. */
class Problem extends Error {}

function fail(where, what) {
  throw new Problem(`${where}: ${what}`);
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

function iso(at) {
  return new Date(at).toISOString();
}

/** Micro-dollars from the hub's six-decimal money text. */
function micros(text, where) {
  const m = typeof text === 'string' ? /^(-?)(\d+)\.(\d{6})$/.exec(text) : null;
  if (!m) fail(where, `${JSON.stringify(text)} is not an amount with six decimals`);
  const value = BigInt(m[2]) * 1_000_000n + BigInt(m[3]);
  return m[1] === '-' ? -value : value;
}

function money(value) {
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / 1_000_000n}.${String(abs % 1_000_000n).padStart(6, '0')}`;
}

/** One CSV cell as the hub's CSV encoder writes it (platform/csv.ts): quoting and formula neutralising. */
function csvCell(value) {
  if (value === null || value === undefined) return '';
  const text = String(value);
  if (/^[=+\-@\t\r]/.test(text) && !/^-?\d+(?:\.\d+)?$/.test(text)) return `"'${text.replaceAll('"', '""')}"`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function line(cells) {
  return `${cells.map(csvCell).join(',')}\n`;
}

/** The CSV's header row, as usage/report-format.ts writes it (`CSV_COLUMNS`). */
const CSV_COLUMNS = [
  'section',
  'month',
  'catalog_version',
  'product',
  'category',
  'subscribers',
  'devices',
  'queries',
  'fee',
  'user',
  'device',
  'basis',
  'entitled',
  'accessed',
  'first_access',
  'last_access',
  'unit',
  'effective_from',
  'fee_type',
  'amount',
  'per_query',
  'cap',
  'source',
];

const CATEGORIES = ['non_display', 'non_professional', 'professional'];

function feeCells(fee) {
  return fee.type === 'monthly'
    ? { fee_type: 'monthly', amount: fee.amount }
    : { fee_type: 'per_query', per_query: fee.perQuery, cap: fee.cap };
}

/** The report as CSV, one table, as usage/report-format.ts renders it. */
export function reportCsv(report) {
  const row = (cells) => line(CSV_COLUMNS.map((column) => cells[column] ?? null));
  const month = { month: report.month, catalog_version: report.catalogVersion };
  let out = line(CSV_COLUMNS);
  for (const s of report.feeSchedules)
    for (const category of CATEGORIES) {
      const fee = s.fees[category];
      if (fee === undefined) continue;
      out += row({
        section: 'fee_schedule',
        ...month,
        product: s.product,
        category,
        unit: s.unit,
        basis: s.basis,
        effective_from: s.effectiveFrom,
        ...feeCells(fee),
        source: s.source,
      });
    }
  for (const r of report.rows)
    out += row({
      section: 'summary',
      ...month,
      product: r.product,
      category: r.category,
      subscribers: r.subscribers,
      devices: r.devices,
      queries: r.queries,
      fee: r.fee,
    });
  for (const d of report.details ?? [])
    out += row({
      section: 'detail',
      ...month,
      product: d.product,
      category: d.category,
      user: d.user,
      device: d.device,
      basis: d.basis,
      entitled: d.entitled,
      accessed: d.accessed,
      first_access: d.firstAccess,
      last_access: d.lastAccess,
      devices: d.devices,
      queries: d.queries,
      fee: d.fee,
    });
  return out;
}

/**
 * The report as CSV in the layout the hub wrote before the one table: sections (month and
 * catalog version, fee schedules, summary, detail) apart by an empty line. Months filed then keep
 * those bytes, so a pack of theirs is checked against this layout.
 */
export function sectionedCsv(report) {
  let out = line(['month', report.month]) + line(['catalog_version', report.catalogVersion]);
  out += `\n${line(['product', 'unit', 'basis', 'effective_from', 'category', 'fee_type', 'amount', 'per_query', 'cap', 'source'])}`;
  for (const schedule of report.feeSchedules) {
    for (const category of CATEGORIES) {
      const fee = schedule.fees[category];
      if (fee === undefined) continue;
      const cells =
        fee.type === 'monthly'
          ? ['monthly', fee.amount, null, null]
          : ['per_query', null, fee.perQuery, fee.cap];
      out += line([
        schedule.product,
        schedule.unit,
        schedule.basis,
        schedule.effectiveFrom,
        category,
        ...cells,
        schedule.source,
      ]);
    }
  }
  out += `\n${line(['product', 'category', 'subscribers', 'devices', 'queries', 'fee'])}`;
  for (const r of report.rows)
    out += line([r.product, r.category, r.subscribers, r.devices, r.queries, r.fee]);
  if (report.details) {
    out += `\n${line(['product', 'category', 'user', 'device', 'basis', 'entitled', 'accessed', 'first_access', 'last_access', 'devices', 'queries', 'fee'])}`;
    for (const d of report.details) {
      out += line([
        d.product,
        d.category,
        d.user,
        d.device,
        d.basis,
        d.entitled,
        d.accessed,
        d.firstAccess,
        d.lastAccess,
        d.devices,
        d.queries,
        d.fee,
      ]);
    }
  }
  return out;
}

/**
 * Checks one filing's report: each detail fee against the schedule, each summary row against the
 * detail rows (rows the detail does not reach must be zero), and that the other three renderings
 * say the same as the detail JSON, byte for byte.
 */
function checkReport(filing, files) {
  const where = files.detailJson.path;
  let report;
  try {
    report = JSON.parse(files.detailJson.bytes.toString('utf8'));
  } catch {
    fail(where, 'is not JSON');
  }
  if (!Array.isArray(report?.details) || !Array.isArray(report.rows) || !Array.isArray(report.feeSchedules))
    fail(where, 'is not a detail report (feeSchedules, rows and details)');
  const schedules = new Map(report.feeSchedules.map((s) => [s.product, s]));
  const totals = new Map();
  for (const [index, d] of report.details.entries()) {
    const at = `${where}, detail row ${index + 1} (${d.product} ${d.category} ${d.user})`;
    const schedule = schedules.get(d.product);
    if (!schedule) fail(at, `product ${d.product} has no fee schedule in the report's header`);
    const fee = schedule.fees[d.category];
    if (!fee) fail(at, `the header has no ${d.category} fee for ${d.product}`);
    if (!Number.isSafeInteger(d.queries) || d.queries < 0) fail(at, 'queries is not a count');
    if (!Number.isSafeInteger(d.devices) || d.devices < 0) fail(at, 'devices is not a count');
    const expected =
      fee.type === 'monthly'
        ? micros(fee.amount, where)
        : (() => {
            const perQuery = BigInt(d.queries) * micros(fee.perQuery, where);
            const cap = micros(fee.cap, where);
            return perQuery < cap ? perQuery : cap;
          })();
    if (micros(d.fee, at) !== expected)
      fail(
        at,
        `the fee is ${d.fee}, but the ${d.product} ${d.category} schedule makes it ${money(expected)}`,
      );
    const key = `${d.product}\u0000${d.category}`;
    const total = totals.get(key) ?? { subscribers: 0, devices: 0, queries: 0, fee: 0n };
    total.subscribers++;
    total.devices += d.devices;
    total.queries += d.queries;
    total.fee += expected;
    totals.set(key, total);
  }
  const seen = new Set();
  for (const row of report.rows) {
    const key = `${row.product}\u0000${row.category}`;
    seen.add(key);
    const total = totals.get(key) ?? { subscribers: 0, devices: 0, queries: 0, fee: 0n };
    const recomputed = {
      subscribers: total.subscribers,
      devices: total.devices,
      queries: total.queries,
      fee: money(total.fee),
    };
    for (const field of ['subscribers', 'devices', 'queries', 'fee']) {
      if (row[field] !== recomputed[field])
        fail(
          where,
          `the summary row ${row.product} ${row.category} says ${field} ${row[field]}, but its detail rows add up to ${recomputed[field]}`,
        );
    }
  }
  for (const key of totals.keys())
    if (!seen.has(key)) fail(where, `detail rows of ${key.replace('\u0000', ' ')} have no summary row`);
  const { details: _, ...summary } = report;
  const renderings = [
    [files.summaryJson, [`${JSON.stringify(summary, null, 2)}\n`]],
    [files.summaryCsv, [reportCsv(summary), sectionedCsv(summary)]],
    [files.detailCsv, [reportCsv(report), sectionedCsv(report)]],
  ];
  for (const [file, layouts] of renderings) {
    if (!layouts.some((expected) => file.bytes.equals(Buffer.from(expected, 'utf8'))))
      fail(file.path, `does not say what ${where} says (filing ${filing.id}'s renderings disagree)`);
  }
  return report;
}

/** Checks the pack in `dir`; returns the summary lines, or throws the first Problem. */
export function verifyPack(dir) {
  const read = (path) => {
    try {
      return readFileSync(join(dir, path));
    } catch {
      return fail(path, 'is missing from the pack');
    }
  };
  const json = (path) => {
    try {
      return JSON.parse(read(path).toString('utf8'));
    } catch (error) {
      if (error instanceof Problem) throw error;
      return fail(path, 'is not JSON');
    }
  };
  /** Lines of a JSON-lines file, each parsed and required to be canonical JSON. */
  const jsonLines = (path) => {
    const text = read(path).toString('utf8');
    if (text !== '' && !text.endsWith('\n')) fail(path, 'does not end with a line end: it was cut');
    const lines = text === '' ? [] : text.slice(0, -1).split('\n');
    return lines.map((source, index) => {
      let value;
      try {
        value = JSON.parse(source);
      } catch {
        fail(`${path} line ${index + 1}`, 'is not JSON');
      }
      if (canonicalJson(value) !== source)
        fail(`${path} line ${index + 1}`, 'is not canonical JSON: it was edited');
      return value;
    });
  };

  const pack = json('pack.json');
  if (pack?.format !== 'mdhub-evidence-pack' || pack.version !== 1)
    fail('pack.json', 'is not an mdhub evidence pack of version 1');
  const month = pack.month;

  // 1. The chain segment.
  const records = jsonLines('audit/segment.jsonl');
  if (records.length === 0) fail('audit/segment.jsonl', 'holds no record');
  const first = records[0];
  const anchor = { seq: first.seq - 1, hash: first.prevHash };
  const bySeq = new Map();
  let previous = anchor;
  for (const [index, record] of records.entries()) {
    const where = `audit/segment.jsonl line ${index + 1}`;
    if (!Number.isSafeInteger(record.seq) || record.seq < 1) fail(where, 'has no sequence number');
    if (index > 0 && record.seq !== previous.seq + 1)
      fail(where, `record ${record.seq} follows record ${previous.seq}: records are missing or out of order`);
    if (record.prevHash !== previous.hash)
      fail(
        where,
        `record ${record.seq} does not link to record ${previous.seq}: reordered, or one was replaced`,
      );
    const { hash, ...content } = record;
    if (sha256(canonicalJson(content)) !== hash)
      fail(where, `record ${record.seq} was altered: its content does not match its hash`);
    bySeq.set(record.seq, record);
    previous = { seq: record.seq, hash };
  }
  const head = json('audit/head.json');
  if (head?.seq !== previous.seq || head.hash !== previous.hash)
    fail(
      'audit/head.json',
      `the chain head is record ${head?.seq} (${head?.hash}), but the segment ends at record ${previous.seq} (${previous.hash})`,
    );

  // 2. The signed checkpoints.
  let key;
  try {
    key = createPublicKey(read('audit/checkpoint-key.pem'));
  } catch (error) {
    if (error instanceof Problem) throw error;
    fail('audit/checkpoint-key.pem', 'is not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'ed25519') fail('audit/checkpoint-key.pem', 'is not an Ed25519 key');
  const spki = key.export({ type: 'spki', format: 'der' });
  const checkpoints = jsonLines('audit/checkpoints.jsonl');
  let latest;
  for (const [index, c] of checkpoints.entries()) {
    const where = `audit/checkpoints.jsonl line ${index + 1}`;
    if (!Number.isSafeInteger(c.seq) || !Number.isSafeInteger(c.at) || typeof c.hash !== 'string')
      fail(where, 'is not a checkpoint');
    if (c.publicKey !== spki.toString('base64'))
      fail(where, 'is signed by another key than audit/checkpoint-key.pem');
    const signature = typeof c.signature === 'string' ? Buffer.from(c.signature, 'base64') : Buffer.alloc(0);
    const signed = Buffer.from(canonicalJson({ at: c.at, hash: c.hash, seq: c.seq }));
    if (signature.toString('base64') !== c.signature || !verify(null, signed, key, signature))
      fail(
        where,
        `the signature of the checkpoint over record ${c.seq} does not verify with audit/checkpoint-key.pem: it was forged or altered`,
      );
    const vouched = c.seq === anchor.seq ? anchor : bySeq.get(c.seq);
    if (!vouched)
      fail(where, `names record ${c.seq}, outside the segment (records ${anchor.seq} to ${head.seq})`);
    if (vouched.hash !== c.hash)
      fail(
        where,
        `the checkpoint signed at ${iso(c.at)} says record ${c.seq} is ${c.hash}, but the segment's is ${vouched.hash}: the log was rewritten`,
      );
    if (!latest || c.seq > latest.seq) latest = c;
  }
  if (!latest) fail('audit/checkpoints.jsonl', 'holds no signed checkpoint over the segment');
  const held = new Set(checkpoints.map((c) => `${c.seq} ${c.hash} ${c.at}`));
  for (const record of records) {
    if (record.action !== 'audit.checkpoint' || !record.after || record.after.seq < anchor.seq) continue;
    const { seq, hash, at } = record.after;
    if (!held.has(`${seq} ${hash} ${at}`))
      fail(
        'audit/checkpoints.jsonl',
        `record ${record.seq} says a checkpoint over record ${seq} was signed at ${iso(at)}, but the pack does not hold it`,
      );
  }

  // 3 and 4. The filings, and each one's report.
  const filings = json('filings/index.json');
  if (!Array.isArray(filings) || filings.length === 0) fail('filings/index.json', 'lists no filing');
  const counted = new Set();
  const names = [];
  for (const filing of filings) {
    const where = `filings/index.json, filing ${filing.id}`;
    if (filing.month !== month) fail(where, `is of ${filing.month}, not ${month}`);
    const record = bySeq.get(filing.auditSeq);
    if (!record) fail(where, `its audit record ${filing.auditSeq} is not in audit/segment.jsonl`);
    const action = filing.kind === 'amendment' ? 'report.amend' : 'report.file';
    const details = record.details ?? {};
    if (
      record.action !== action ||
      record.subject !== `report:usage:${month}` ||
      details.filing !== filing.id ||
      details.month !== month ||
      details.licensor !== filing.licensor ||
      (filing.kind === 'amendment' && details.replaces !== filing.replaces)
    )
      fail(
        where,
        `audit record ${record.seq} does not record this ${filing.kind} (${record.action} ${record.subject})`,
      );
    if (record.seq > latest.seq)
      fail(
        where,
        `its audit record ${record.seq} is after the latest signed checkpoint (record ${latest.seq}): nothing signed vouches for it`,
      );
    const files = {};
    for (const file of filing.files ?? []) {
      const filed = (details.files ?? []).find((f) => f.format === file.format && f.detail === file.detail);
      if (!filed)
        fail(
          where,
          `audit record ${record.seq} has no ${file.format} ${file.detail ? 'detail' : 'summary'} file`,
        );
      const bytes = read(file.path);
      const hash = sha256(bytes);
      if (hash !== filed.sha256 || bytes.length !== filed.bytes)
        fail(
          file.path,
          `its SHA-256 is ${hash} (${bytes.length} bytes), but audit record ${record.seq} filed ${filed.sha256} (${filed.bytes} bytes): the file is not the one filed`,
        );
      if (file.sha256 !== filed.sha256)
        fail(where, `lists ${file.path} with another SHA-256 than audit record ${record.seq}`);
      const name = `${file.detail ? 'detail' : 'summary'}${file.format === 'json' ? 'Json' : 'Csv'}`;
      files[name] = { path: file.path, bytes };
    }
    for (const name of ['summaryJson', 'detailJson', 'summaryCsv', 'detailCsv'])
      if (!files[name]) fail(where, `lists no ${name} file`);
    if (filing.kind === 'amendment') {
      const path = filing.delta;
      const hash = sha256(read(path));
      if (hash !== details.delta?.sha256)
        fail(
          path,
          `its SHA-256 is ${hash}, but audit record ${record.seq} recorded ${details.delta?.sha256}`,
        );
    }
    const report = checkReport(filing, files);
    for (const d of report.details) counted.add(d.user);
    names.push(`${filing.kind} ${filing.id}`);
  }
  const packed = new Set(filings.map((f) => f.id));
  for (const record of records) {
    if (record.subject !== `report:usage:${month}`) continue;
    if (record.action !== 'report.file' && record.action !== 'report.amend') continue;
    if (!packed.has(record.details?.filing))
      fail(
        'filings/index.json',
        `audit record ${record.seq} records filing ${record.details?.filing} of ${month}, which the pack does not hold`,
      );
  }

  // 5. The entitlement history of every counted user.
  const histories = new Set(jsonLines('entitlements/history.jsonl').map((h) => h.userId));
  for (const user of counted)
    if (!histories.has(user)) fail('entitlements/history.jsonl', `counted user ${user} has no history line`);

  // 6. The manifest.
  const manifest = json('manifest.json');
  if (!Array.isArray(manifest?.files)) fail('manifest.json', 'lists no files');
  for (const file of manifest.files) {
    const hash = sha256(read(file.path));
    if (hash !== file.sha256)
      fail(file.path, `its SHA-256 is ${hash}, but manifest.json lists ${file.sha256}`);
  }

  return [
    `${month}: ${names.join(', ')}; every file as filed, every summary row recomputed from its ${counted.size} counted users' detail`,
    `audit records ${first.seq} to ${head.seq}, intact up to the chain head (${head.hash}); ${checkpoints.length} signed checkpoints, the latest over record ${latest.seq}`,
    `checkpoint key SHA-256 ${sha256(spki)}: compare it with the fingerprint the broker gave you`,
  ];
}

function main() {
  // The pack is the folder this script was unpacked with, unless another is named.
  const dir = process.argv[2] ?? dirname(fileURLToPath(import.meta.url));
  try {
    const summary = verifyPack(dir);
    process.stdout.write(`ok\n${summary.join('\n')}\n`);
    return 0;
  } catch (error) {
    // Anything else is a file whose shape is not what the hub writes.
    const message = error instanceof Problem ? error.message : `the pack is malformed: ${error.message}`;
    process.stdout.write(`${message}\n`);
    return 1;
  }
}

const invoked =
  process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invoked) process.exitCode = main();
