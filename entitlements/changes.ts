/**
 * The entitlement change feed, as a transactional outbox. A verb that may change users' decisions
 * records them with `recordChanges` in its own transaction, so the record commits exactly when the
 * change does; the relay (`relay.ts`) then publishes each row as `entitlements.changed` and marks
 * it published. A failed publish, or a process dying between commit and publish, leaves the row
 * for the relay's next sweep — and edges compare the head (`readChangeHead`) with what they have
 * applied, so even a change nobody publishes reaches them (`cache.ts`).
 */
import type { ControlChannel, ControlMessage } from '../platform/bus/index.js';
import type { Db, Tx } from '../platform/db/index.js';

export const ENTITLEMENTS_CHANGED = 'entitlements.changed';

export interface EntitlementsChanged extends ControlMessage {
  type: typeof ENTITLEMENTS_CHANGED;
  userId: string;
  /** The change's seq in `entitlement_changes`; absent from publishers older than the outbox. */
  seq?: number;
  /** The change's instant (the verb's `at`), from which an edge's time to apply it runs. */
  at?: number;
}

export function isEntitlementsChanged(message: ControlMessage): message is EntitlementsChanged {
  return (
    message.type === ENTITLEMENTS_CHANGED &&
    typeof message.userId === 'string' &&
    (message.seq === undefined || typeof message.seq === 'number') &&
    (message.at === undefined || typeof message.at === 'number')
  );
}

declare const recorded: unique symbol;

/**
 * Users whose changes were written to the outbox in the verb's transaction. Only `recordChanges`
 * (and `NO_CHANGES`) make one, so a verb cannot report a change it did not record.
 */
export type RecordedChanges = readonly string[] & { readonly [recorded]: true };

export const NO_CHANGES = Object.freeze([]) as unknown as RecordedChanges;

/**
 * Writes one outbox row per user inside `tx`. The head's row lock is held until `tx` ends, so
 * changes take seqs in commit order; take it last in the transaction to keep that window short.
 */
export async function recordChanges(
  tx: Tx,
  userIds: readonly string[],
  at: number,
): Promise<RecordedChanges> {
  const users = [...new Set(userIds)];
  if (users.length === 0) return NO_CHANGES;
  const { rows } = await tx.query<{ seq: number }>(
    'update entitlement_change_head set seq = seq + $1 where id = 1 returning seq',
    [users.length],
  );
  const last = rows[0]?.seq;
  if (last === undefined) throw new Error('entitlement_change_head has no row: run mdhub migrate');
  await tx.query(
    `insert into entitlement_changes (seq, user_id, at)
      select $1::int8 + t.n, t.user_id, $3 from unnest($2::text[]) with ordinality as t(user_id, n)`,
    [last - users.length, users, at],
  );
  return users as unknown as RecordedChanges;
}

/** The seq of the latest committed change (0 before any). One indexed row: cheap to poll. */
export async function readChangeHead(db: Db | Tx): Promise<number> {
  const { rows } = await db.query<{ seq: number }>('select seq from entitlement_change_head where id = 1');
  return rows[0]?.seq ?? 0;
}

export interface ChangeRow {
  seq: number;
  userId: string;
  /** The change's instant (the verb's `at`). */
  at: number;
}

/** The changes with `after < seq <= upTo`, in seq order; fewer than `upTo - after` when pruned. */
export async function changesBetween(db: Db, after: number, upTo: number): Promise<ChangeRow[]> {
  const { rows } = await db.query<{ seq: number; user_id: string; at: number }>(
    'select seq, user_id, at from entitlement_changes where seq > $1 and seq <= $2 order by seq',
    [after, upTo],
  );
  return rows.map((row) => ({ seq: row.seq, userId: row.user_id, at: row.at }));
}

/**
 * Publishes up to `limit` unpublished changes in seq order and marks those published at `at`.
 * Resolves to how many went out and whether more are waiting; a publish that fails stops the
 * batch (throwing after marking what did go out), so the rest wait for the next attempt.
 * Delivery is at least once: two relays may both send a row, and edges reload idempotently.
 */
export async function publishBatch(
  db: Db,
  control: ControlChannel,
  at: number,
  limit: number,
): Promise<{ published: number; more: boolean }> {
  const { rows } = await db.query<{ seq: number; user_id: string; at: number }>(
    'select seq, user_id, at from entitlement_changes where published_at is null order by seq limit $1',
    [limit],
  );
  const sent: number[] = [];
  try {
    for (const row of rows) {
      const message: EntitlementsChanged = {
        type: ENTITLEMENTS_CHANGED,
        userId: row.user_id,
        seq: row.seq,
        at: row.at,
      };
      await control.publish(message);
      sent.push(row.seq);
    }
  } finally {
    if (sent.length > 0) {
      await db.query('update entitlement_changes set published_at = $2 where seq = any($1::int8[])', [
        sent,
        at,
      ]);
    }
  }
  return { published: sent.length, more: rows.length === limit };
}

/** Deletes published changes older than `before`; the head is untouched, so edges still compare. */
export async function pruneChanges(db: Db, before: number): Promise<number> {
  const { rowCount } = await db.query(
    'delete from entitlement_changes where published_at is not null and published_at < $1',
    [before],
  );
  return rowCount;
}
