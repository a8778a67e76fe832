/**
 * What the admin API shows about users: their records and, per product, the decision now with
 * its reasons in words. Read-only; decisions here omit the session limit (sessions live on the edges).
 */
import type { Category } from '../config/index.js';
import type { Queryable } from '../platform/db/index.js';
import { categoryAt } from './category.js';
import { decide, type Mode, type Reason, reasonWords } from './decide.js';
import { unknownUser } from './errors.js';
import { GRANT_COLUMNS, type GrantRecord, type GrantRow, toGrantRecord } from './grants.js';
import type { AccountStatus, ProductTerms, UserSnapshot } from './snapshot.js';
import { readSnapshots } from './store.js';
import type { TokenUsage } from './tokens.js';
import type { UserRow } from './verbs/common.js';

export interface DecisionView {
  mode: Mode;
  reasons: Reason[];
  /** The reasons in words, in the same order. */
  words: string[];
}

export interface UserSummary {
  id: string;
  email: string | null;
  name: string | null;
  address: string | null;
  status: AccountStatus;
  delinquent: boolean;
  sessionLimit: number;
  /** The user's own delivery rate (updates a second per symbol); null: none. */
  maxUpdatesPerSecond: number | null;
  createdAt: number;
  category: Category;
  decisions: Record<string, DecisionView>;
}

export interface UserDetail extends UserSummary {
  grants: GrantRecord[];
  agreements: Array<{ licensor: string; version: string; acceptedAt: number }>;
  /** In the order they took effect; `at` is when each was recorded, `effectiveFrom` when it took effect. */
  attestations: Array<{ id: number; status: Category; answers: unknown; at: number; effectiveFrom: number }>;
  tokens: Array<{
    id: string;
    deviceId: string | null;
    usage: TokenUsage;
    createdAt: number;
    revokedAt: number | null;
  }>;
}

export interface ViewOptions {
  products: ReadonlyMap<string, ProductTerms>;
  defaultSessionLimit: number;
  at: number;
}

const USER_COLUMNS = 'id, email, name, address, status, billing_delinquent, session_limit, created_at';

function summary(row: UserRow, snapshot: UserSnapshot, options: ViewOptions): UserSummary {
  const decisions: Record<string, DecisionView> = {};
  for (const product of options.products.values()) {
    const { mode, reasons } = decide(snapshot, product, options.at);
    decisions[product.id] = { mode, reasons, words: reasonWords(reasons) };
  }
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    address: row.address,
    status: row.status,
    delinquent: row.billing_delinquent,
    sessionLimit: snapshot.sessionLimit,
    maxUpdatesPerSecond: snapshot.maxUpdatesPerSecond ?? null,
    createdAt: row.created_at,
    category: categoryAt(snapshot, options.at),
    decisions,
  };
}

/** `LIKE` pattern matching `text` literally anywhere. */
function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export interface UserPage {
  users: UserSummary[];
  /** Pass as `after` for the next page; null on the last one. */
  next: string | null;
}

/** Users whose id, email or name contains `q` (case-insensitive), in id order, `limit` at a time. */
export async function listUsers(
  db: Queryable,
  query: { q?: string; limit: number; after?: string },
  options: ViewOptions,
): Promise<UserPage> {
  const { rows } = await db.query<UserRow>(
    `select ${USER_COLUMNS} from users
      where ($1::text is null or id ilike $1 or email ilike $1 or name ilike $1)
        and ($2::text is null or id collate "C" > $2)
      order by id collate "C" limit $3`,
    [query.q === undefined ? null : containing(query.q), query.after ?? null, query.limit + 1],
  );
  const page = rows.slice(0, query.limit);
  const snapshots = await readSnapshots(
    db,
    page.map((row) => row.id),
    options.defaultSessionLimit,
  );
  return {
    users: page.map((row) => summary(row, snapshots.get(row.id)!, options)),
    next: rows.length > query.limit ? page[page.length - 1]!.id : null,
  };
}

export async function userDetail(db: Queryable, userId: string, options: ViewOptions): Promise<UserDetail> {
  const users = await db.query<UserRow>(`select ${USER_COLUMNS} from users where id = $1`, [userId]);
  const row = users.rows[0];
  if (!row) throw unknownUser(userId);
  const snapshot = (await readSnapshots(db, [userId], options.defaultSessionLimit)).get(userId)!;
  const grants = await db.query<GrantRow>(
    `select ${GRANT_COLUMNS} from grants where user_id = $1 order by id`,
    [userId],
  );
  const agreements = await db.query<{ licensor: string; version: string; accepted_at: number }>(
    'select licensor, version, accepted_at from agreements where user_id = $1 order by id',
    [userId],
  );
  const attestations = await db.query<{
    id: number;
    status: Category;
    answers: string | null;
    at: number;
    effective_from: number;
  }>(
    `select id, status, answers, at, coalesce(effective_from, at) as effective_from from attestations
      where user_id = $1 order by coalesce(effective_from, at), id`,
    [userId],
  );
  const tokens = await db.query<{
    id: string;
    device_id: string | null;
    usage: TokenUsage;
    created_at: number;
    revoked_at: number | null;
  }>(
    'select id, device_id, usage, created_at, revoked_at from user_tokens where user_id = $1 order by created_at, id collate "C"',
    [userId],
  );
  return {
    ...summary(row, snapshot, options),
    grants: grants.rows.map(toGrantRecord),
    agreements: agreements.rows.map((a) => ({
      licensor: a.licensor,
      version: a.version,
      acceptedAt: a.accepted_at,
    })),
    attestations: attestations.rows.map((a) => ({
      id: a.id,
      status: a.status,
      answers: a.answers === null ? null : (JSON.parse(a.answers) as unknown),
      at: a.at,
      effectiveFrom: a.effective_from,
    })),
    tokens: tokens.rows.map((t) => ({
      id: t.id,
      deviceId: t.device_id,
      usage: t.usage,
      createdAt: t.created_at,
      revokedAt: t.revoked_at,
    })),
  };
}
