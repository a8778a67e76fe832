import { hash } from 'node:crypto';
import { type Actor, OPERATOR_ROLES, type OperatorRole } from '../platform/actor.js';
import { canonicalJson } from './canonical.js';

/** What a caller records: who did what to whom, the state before and after, and when. */
export interface AuditEntry {
  actor: Actor;
  /** `entity.verb`, e.g. `grant.create`. */
  action: string;
  /** What the change is about, e.g. `user:u1`. */
  subject: string;
  before?: unknown;
  after?: unknown;
  details?: unknown;
  /** Epoch ms. */
  at: number;
}

/** One link of the chain as an auditor sees it: the entry, its place, and the hashes that seal it. */
export interface AuditRecord {
  seq: number;
  at: number;
  actor: Actor;
  action: string;
  subject: string;
  before?: unknown;
  after?: unknown;
  details?: unknown;
  /** The previous record's hash; for record 1, {@link GENESIS_HASH}. */
  prevHash: string;
  /** SHA-256 (hex) of the canonical JSON of this record without `hash`. */
  hash: string;
}

/**
 * A record as stored: before/after/details kept as their canonical JSON text (PostgreSQL `jsonb`
 * would re-order keys and re-print numbers), so the hash can be recomputed byte for byte.
 */
export interface StoredRecord {
  seq: number;
  at: number;
  actorType: Actor['type'];
  actorId: string;
  actorRole: string | null;
  action: string;
  subject: string;
  before: string | null;
  after: string | null;
  details: string | null;
  prevHash: string;
  hash: string;
}

/** The select list that reads an `audit_log` row as a {@link StoredRecord}. */
export const STORED_COLUMNS =
  'seq, at, actor_type as "actorType", actor_id as "actorId", actor_role as "actorRole", action, subject, ' +
  'before_json as before, after_json as after, details_json as details, prev_hash as "prevHash", hash';

/** The hash record 1 links back to. */
export const GENESIS_HASH = '0'.repeat(64);

/** Where the chain ends: the last record's sequence and hash (0 and the genesis hash when empty). */
export interface ChainHead {
  seq: number;
  hash: string;
}

const ACTION = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const ACTOR_TYPES: ReadonlySet<string> = new Set<Actor['type']>(['operator', 'user', 'webhook', 'system']);

/** Turns an entry into the record that follows `head`: validated, canonicalised and hashed. */
export function sealRecord(head: ChainHead, entry: AuditEntry): StoredRecord {
  const { actor } = entry;
  if (!ACTION.test(entry.action)) {
    throw new TypeError(`audit entry: action ${JSON.stringify(entry.action)} must look like 'entity.verb'`);
  }
  if (typeof entry.subject !== 'string' || entry.subject === '') {
    throw new TypeError('audit entry: subject must be a non-empty string');
  }
  if (!Number.isSafeInteger(entry.at) || entry.at < 0) {
    throw new TypeError(`audit entry: at must be epoch milliseconds, got ${entry.at}`);
  }
  if (!ACTOR_TYPES.has(actor.type) || typeof actor.id !== 'string' || actor.id === '') {
    throw new TypeError('audit entry: actor must have a known type and a non-empty id');
  }
  if (actor.type === 'operator' && !(OPERATOR_ROLES as readonly string[]).includes(actor.role)) {
    throw new TypeError(`audit entry: operator ${actor.id} has no valid role`);
  }
  // recordJson writes these with JSON.stringify, which is canonical for any string canonicalJson accepts.
  payload(entry.subject, 'subject');
  payload(actor.id, 'actor.id');
  const record: StoredRecord = {
    seq: head.seq + 1,
    at: entry.at,
    actorType: actor.type,
    actorId: actor.id,
    actorRole: actor.type === 'operator' ? actor.role : null,
    action: entry.action,
    subject: entry.subject,
    before: payload(entry.before, 'before'),
    after: payload(entry.after, 'after'),
    details: payload(entry.details, 'details'),
    prevHash: head.hash,
    hash: '',
  };
  record.hash = recordHash(record);
  return record;
}

function payload(value: unknown, name: string): string | null {
  if (value === undefined) return null;
  try {
    return canonicalJson(value);
  } catch (error) {
    throw new TypeError(`audit entry: ${name} ${(error as Error).message}`, { cause: error });
  }
}

/** SHA-256 (hex) over the record's canonical JSON without `hash`: what seals it into the chain. */
export function recordHash(record: StoredRecord): string {
  return hash('sha256', recordJson(record, false), 'hex');
}

/**
 * The canonical JSON of the record, built from the stored text of before/after/details rather
 * than re-serialising them, so it is byte-identical to `canonicalJson` of the parsed
 * {@link AuditRecord} (a property test holds the two equal). Members are written in sorted key
 * order by hand because verification runs this for every record: strings and integers written by
 * `JSON.stringify` are already canonical, and `sealRecord` refused any string that would not be.
 */
export function recordJson(record: StoredRecord, withHash: boolean): string {
  const role = record.actorType === 'operator' ? `,"role":${JSON.stringify(record.actorRole)}` : '';
  let text = `{"action":${JSON.stringify(record.action)}`;
  text += `,"actor":{"id":${JSON.stringify(record.actorId)}${role},"type":${JSON.stringify(record.actorType)}}`;
  if (record.after !== null) text += `,"after":${record.after}`;
  text += `,"at":${record.at}`;
  if (record.before !== null) text += `,"before":${record.before}`;
  if (record.details !== null) text += `,"details":${record.details}`;
  if (withHash) text += `,"hash":${JSON.stringify(record.hash)}`;
  text += `,"prevHash":${JSON.stringify(record.prevHash)},"seq":${record.seq}`;
  return `${text},"subject":${JSON.stringify(record.subject)}}`;
}

function actorOf(record: StoredRecord): Actor {
  if (record.actorType === 'operator') {
    return { type: 'operator', id: record.actorId, role: record.actorRole as OperatorRole };
  }
  return { type: record.actorType, id: record.actorId };
}

/** The record with its payloads parsed back into values, as the API and `appendAudit` return it. */
export function toAuditRecord(record: StoredRecord): AuditRecord {
  const result: AuditRecord = {
    seq: record.seq,
    at: record.at,
    actor: actorOf(record),
    action: record.action,
    subject: record.subject,
    prevHash: record.prevHash,
    hash: record.hash,
  };
  if (record.before !== null) result.before = JSON.parse(record.before);
  if (record.after !== null) result.after = JSON.parse(record.after);
  if (record.details !== null) result.details = JSON.parse(record.details);
  return result;
}
