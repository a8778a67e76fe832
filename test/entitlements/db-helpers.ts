import type { VerbOutcome } from '../../entitlements/index.js';
import type { Actor, VerbContext } from '../../platform/actor.js';
import type { Db } from '../../platform/db/index.js';

/** Runs one verb in its own transaction, as the routes do, and returns its value. */
export async function run<T>(
  db: Db,
  actor: Actor,
  at: number,
  verb: (ctx: VerbContext) => Promise<VerbOutcome<T>>,
): Promise<T> {
  const outcome = await db.transaction((tx) => verb({ actor, tx, at }));
  return outcome.value;
}

export interface AuditRow {
  action: string;
  subject: string;
  actor_type: string;
  actor_id: string;
  before: unknown;
  after: unknown;
  details: unknown;
}

/** The audit records about `subject`, oldest first, payloads parsed. */
export async function auditOf(db: Db, subject: string): Promise<AuditRow[]> {
  const { rows } = await db.query<{
    action: string;
    subject: string;
    actor_type: string;
    actor_id: string;
    before_json: string | null;
    after_json: string | null;
    details_json: string | null;
  }>(
    'select action, subject, actor_type, actor_id, before_json, after_json, details_json from audit_log where subject = $1 order by seq',
    [subject],
  );
  const parse = (json: string | null): unknown => (json === null ? undefined : JSON.parse(json));
  return rows.map((row) => ({
    action: row.action,
    subject: row.subject,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    before: parse(row.before_json),
    after: parse(row.after_json),
    details: parse(row.details_json),
  }));
}
