import type { Catalog } from '../../config/index.js';
import type { Actor, VerbContext } from '../../platform/actor.js';
import type { Tx } from '../../platform/db/index.js';
import type { RecordedChanges } from '../changes.js';
import { accountClosed, unknownUser } from '../errors.js';
import type { AccountStatus } from '../snapshot.js';

/** What a verb hands back: its result, and the users whose decisions may have changed. */
export interface VerbOutcome<T> {
  value: T;
  /**
   * Written to the change outbox in the verb's transaction (`recordChanges`, which the type
   * demands), and published as `entitlements.changed` by the relay once it has committed.
   */
  changed: RecordedChanges;
}

/** Verbs that resolve products and licensors see the catalog beside the usual context. */
export interface CatalogContext extends VerbContext {
  catalog: Catalog;
}

export interface UserRow {
  id: string;
  email: string | null;
  name: string | null;
  address: string | null;
  status: AccountStatus;
  billing_delinquent: boolean;
  session_limit: number | null;
  created_at: number;
}

/** How an actor is written in `created_by` / `revoked_by` columns. */
export function actorRef(actor: Actor): string {
  return `${actor.type}:${actor.id}`;
}

export function userSubject(userId: string): string {
  return `user:${userId}`;
}

/**
 * The user row, locked until the transaction ends, so two changes to one user run one after the
 * other and each audit record's `before` is what the change really started from.
 */
export async function lockUser(tx: Tx, userId: string): Promise<UserRow> {
  const { rows } = await tx.query<UserRow>(
    'select id, email, name, address, status, billing_delinquent, session_limit, created_at from users where id = $1 for update',
    [userId],
  );
  const row = rows[0];
  if (!row) throw unknownUser(userId);
  return row;
}

/** As `lockUser`, refusing a closed account: nothing new is given to one. */
export async function lockOpenUser(tx: Tx, userId: string): Promise<UserRow> {
  const row = await lockUser(tx, userId);
  if (row.status === 'closed') throw accountClosed(userId);
  return row;
}
