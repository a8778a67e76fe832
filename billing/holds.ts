/**
 * Billing holds: the reasons a user should be billing-delinquent. An unpaid invoice becomes due
 * once its grace has passed; a deleted subscription at once. The user is delinquent while any
 * hold is due, which `entitlements.setDelinquent` turns into real time stopping live (audited).
 */
import { setDelinquent } from '../entitlements/index.js';
import type { Actor } from '../platform/actor.js';
import type { Db, Tx } from '../platform/db/index.js';

export type HoldKind = 'invoice' | 'subscription';

export interface Hold {
  userId: string;
  kind: HoldKind;
  /** The Stripe invoice or subscription id. */
  ref: string;
  eventId: string;
  since: number;
  dueAt: number;
}

/** The actor a Stripe event's consequences are recorded under, even when applied later by the worker. */
export function webhookActor(eventId: string): Actor {
  return { type: 'webhook', id: `stripe:${eventId}` };
}

/**
 * Adds a hold, or keeps the earliest of two for the same invoice or subscription: events arrive
 * out of order, and the grace runs from the first failure Stripe reported, not the first received.
 */
export async function addHold(tx: Tx, hold: Hold): Promise<void> {
  await tx.query(
    `insert into billing_holds (user_id, kind, ref, event_id, since, due_at) values ($1, $2, $3, $4, $5, $6)
      on conflict (user_id, kind, ref) do update set event_id = excluded.event_id, since = excluded.since,
        due_at = excluded.due_at
      where excluded.due_at < billing_holds.due_at`,
    [hold.userId, hold.kind, hold.ref, hold.eventId, hold.since, hold.dueAt],
  );
}

/** Removes holds; resolves to how many there were. */
export async function removeHolds(
  tx: Tx,
  userId: string,
  kind: HoldKind,
  refs: readonly string[],
): Promise<number> {
  const { rowCount } = await tx.query(
    'delete from billing_holds where user_id = $1 and kind = $2 and ref = any($3::text[])',
    [userId, kind, refs],
  );
  return rowCount;
}

/**
 * Brings the user's delinquency in line with their holds at `at`, inside `tx`. Resolves to the
 * users whose decisions changed, to publish on the change feed once `tx` has committed.
 */
export async function syncDelinquency(
  tx: Tx,
  userId: string,
  at: number,
  actor: Actor,
  reason: string,
): Promise<string[]> {
  const { rows } = await tx.query<{ due: number }>(
    'select count(*)::int8 as due from billing_holds where user_id = $1 and due_at <= $2',
    [userId, at],
  );
  const delinquent = (rows[0]?.due ?? 0) > 0;
  await tx.query(
    'update billing_holds set applied = true where user_id = $1 and due_at <= $2 and not applied',
    [userId, at],
  );
  const outcome = await setDelinquent({ ctx: { actor, tx, at }, input: { userId, delinquent, reason } });
  return [...outcome.changed];
}

/**
 * Applies the holds whose grace has run out by `at`: the scheduler half of a payment failure.
 * Each user in a transaction of their own, so one failure does not hold back the others.
 */
export async function applyDueHolds(db: Db, at: number): Promise<string[]> {
  const { rows } = await db.query<{ user_id: string; event_id: string; ref: string }>(
    `select distinct on (user_id) user_id, event_id, ref from billing_holds
      where not applied and due_at <= $1 order by user_id, due_at`,
    [at],
  );
  const changed: string[] = [];
  for (const row of rows) {
    const reason = `grace after the failed payment of invoice ${row.ref} ended`;
    changed.push(
      ...(await db.transaction((tx) =>
        syncDelinquency(tx, row.user_id, at, webhookActor(row.event_id), reason),
      )),
    );
  }
  return changed;
}
