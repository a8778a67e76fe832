/**
 * Reading users' snapshots from the database in a handful of queries, whatever the number of
 * users: one per table, for everyone or for a list of ids.
 */
import type { Category } from '../config/index.js';
import type { Db, Queryable } from '../platform/db/index.js';
import { readChangeHead } from './changes.js';
import type { AccountStatus, AgreementFact, AttestationFact, GrantSpan, UserSnapshot } from './snapshot.js';
import type { TokenUsage } from './tokens.js';

export interface TokenEntry {
  userId: string;
  deviceId?: string;
  /** Set only for a token issued for an application: absent means `display`. */
  usage?: Exclude<TokenUsage, 'display'>;
}

export interface LoadedState {
  users: Map<string, UserSnapshot>;
  /** Active user tokens by hash. */
  tokens: Map<string, TokenEntry>;
  /** The change head in the same snapshot: the load includes every change up to it, none after. */
  head: number;
}

interface Lists {
  attestations: AttestationFact[];
  agreements: AgreementFact[];
  grants: GrantSpan[];
}

interface UserRow {
  id: string;
  status: AccountStatus;
  billing_delinquent: boolean;
  session_limit: number | null;
  max_updates_per_second: number | null;
}

function filter(
  userIds: readonly string[] | undefined,
  column = 'user_id',
): { where: string; params: unknown[] } {
  if (userIds === undefined) return { where: 'true', params: [] };
  return { where: `${column} = any($1::text[])`, params: [userIds] };
}

/** Snapshots of the given users (all when `userIds` is undefined), read through `q`. */
export async function readSnapshots(
  q: Queryable,
  userIds: readonly string[] | undefined,
  defaultSessionLimit: number,
): Promise<Map<string, UserSnapshot>> {
  const byUser = filter(userIds);
  const users = await q.query<UserRow>(
    `select id, status, billing_delinquent, session_limit, max_updates_per_second from users where ${filter(userIds, 'id').where}`,
    byUser.params,
  );
  const attestations = await q.query<{ user_id: string; status: Category; at: number }>(
    `select user_id, status, coalesce(effective_from, at) as at from attestations where ${byUser.where}
      order by user_id, coalesce(effective_from, at), id`,
    byUser.params,
  );
  const agreements = await q.query<{
    user_id: string;
    licensor: string;
    version: string;
    accepted_at: number;
  }>(
    `select user_id, licensor, version, accepted_at from agreements where ${byUser.where} order by user_id, id`,
    byUser.params,
  );
  // Grants revoked before they started never had any effect; the decision has no use for them.
  const grants = await q.query<{
    user_id: string;
    product: string;
    valid_from: number;
    valid_to: number | null;
    revoked_at: number | null;
    max_updates_per_second: number | null;
  }>(
    `select user_id, product, valid_from, valid_to, revoked_at, max_updates_per_second from grants
      where ${byUser.where} and (revoked_at is null or revoked_at > valid_from) order by user_id, id`,
    byUser.params,
  );

  const snapshots = new Map<string, UserSnapshot>();
  const lists = new Map<string, Lists>();
  for (const row of users.rows) {
    const parts: Lists = { attestations: [], agreements: [], grants: [] };
    lists.set(row.id, parts);
    snapshots.set(row.id, {
      id: row.id,
      status: row.status,
      delinquent: row.billing_delinquent,
      sessionLimit: row.session_limit ?? defaultSessionLimit,
      ...(row.max_updates_per_second === null ? {} : { maxUpdatesPerSecond: row.max_updates_per_second }),
      ...parts,
    });
  }
  for (const row of attestations.rows)
    lists.get(row.user_id)?.attestations.push({ status: row.status, at: row.at });
  for (const row of agreements.rows) {
    lists
      .get(row.user_id)
      ?.agreements.push({ licensor: row.licensor, version: row.version, acceptedAt: row.accepted_at });
  }
  for (const row of grants.rows) {
    const span: GrantSpan = {
      product: row.product,
      validFrom: row.valid_from,
      validTo: row.valid_to,
      revokedAt: row.revoked_at,
    };
    if (row.max_updates_per_second !== null) span.maxUpdatesPerSecond = row.max_updates_per_second;
    lists.get(row.user_id)?.grants.push(span);
  }
  return snapshots;
}

export async function readTokens(
  q: Queryable,
  userIds: readonly string[] | undefined,
): Promise<Map<string, TokenEntry>> {
  const byUser = filter(userIds);
  const { rows } = await q.query<{
    user_id: string;
    token_hash: string;
    device_id: string | null;
    usage: TokenUsage;
  }>(
    `select user_id, token_hash, device_id, usage from user_tokens where ${byUser.where} and revoked_at is null`,
    byUser.params,
  );
  const tokens = new Map<string, TokenEntry>();
  for (const row of rows) {
    const entry: TokenEntry = { userId: row.user_id };
    if (row.device_id !== null) entry.deviceId = row.device_id;
    if (row.usage === 'non_display') entry.usage = 'non_display';
    tokens.set(row.token_hash, entry);
  }
  return tokens;
}

/**
 * Users, tokens and the change head read in one repeatable-read transaction, so the tables agree
 * with each other (a grant is never seen without the user row committed with it) and with the head.
 */
export async function loadState(
  db: Db,
  userIds: readonly string[] | undefined,
  defaultSessionLimit: number,
): Promise<LoadedState> {
  return db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.query('set transaction isolation level repeatable read, read only');
    // First, so the repeatable-read snapshot is taken here: what follows agrees with this head.
    const head = await readChangeHead(tx);
    const users = await readSnapshots(tx, userIds, defaultSessionLimit);
    const tokens = await readTokens(tx, userIds);
    return { users, tokens, head };
  });
}
