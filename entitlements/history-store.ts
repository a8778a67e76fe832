/**
 * The questions about the past, answered from the database: the grants and agreements
 * `openIntervals` is evaluated over, and the attestations a month's category comes from. A few
 * queries whatever the number of users. What they read is only ever appended to or ended, and
 * read by effect date: a past window's answer changes only by a correction (an attestation
 * recorded late, a grant or revocation backdated), which the audit log records.
 */
import type { Catalog, Category } from '../config/index.js';
import type { Queryable } from '../platform/db/index.js';
import { categoryWhileCounted, monthBounds } from './category.js';
import { type Interval, openIntervals } from './history.js';
import { type AgreementFact, type AttestationFact, type GrantSpan, productTerms } from './snapshot.js';

/** When real time for one product was open to one user. */
export interface RealtimeHistory {
  userId: string;
  product: string;
  /** Disjoint, sorted, never empty. */
  intervals: Interval[];
}

export interface HistoryFilter {
  /** Only these users; every user when omitted. */
  users?: readonly string[];
  /** Only these products of the catalog; every product when omitted. */
  products?: readonly string[];
}

/** End of a grant row's effect in SQL; an open-ended grant ends at the largest int8. */
const GRANT_END = 'coalesce(least(valid_to, revoked_at), 9223372036854775807)';

interface Facts {
  grants: GrantSpan[];
  agreements: AgreementFact[];
}

/**
 * Every (user, product) to whom real time was open at some instant of `window`, with the
 * intervals, sorted by user, then product (code-point order). Pairs never open are left out.
 */
export async function realtimeOpenIntervals(
  q: Queryable,
  catalog: Catalog,
  window: Interval,
  filter: HistoryFilter = {},
): Promise<RealtimeHistory[]> {
  if (window.to <= window.from) return [];
  const products = [...productTerms(catalog).values()]
    .filter((product) => filter.products?.includes(product.id) ?? true)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const grants = await q.query<{
    user_id: string;
    product: string;
    valid_from: number;
    valid_to: number | null;
    revoked_at: number | null;
  }>(
    `select user_id, product, valid_from, valid_to, revoked_at from grants
      where product = any($1::text[]) and valid_from < $3 and ${GRANT_END} > $2
        and ($4::text[] is null or user_id = any($4::text[]))
      order by user_id, id`,
    [products.map((product) => product.id), window.from, window.to, filter.users ?? null],
  );
  const facts = new Map<string, Facts>();
  for (const row of grants.rows) {
    let user = facts.get(row.user_id);
    if (!user) {
      user = { grants: [], agreements: [] };
      facts.set(row.user_id, user);
    }
    user.grants.push({
      product: row.product,
      validFrom: row.valid_from,
      validTo: row.valid_to,
      revokedAt: row.revoked_at,
    });
  }
  if (facts.size === 0) return [];

  // Agreements accepted before the window are on file in it: only the window's end bounds them.
  const agreements = await q.query<{
    user_id: string;
    licensor: string;
    version: string;
    accepted_at: number;
  }>(
    `select user_id, licensor, version, accepted_at from agreements
      where user_id = any($1::text[]) and licensor = any($2::text[]) and accepted_at < $3
      order by user_id, id`,
    [[...facts.keys()], [...new Set(products.map((product) => product.licensor))], window.to],
  );
  for (const row of agreements.rows) {
    facts
      .get(row.user_id)
      ?.agreements.push({ licensor: row.licensor, version: row.version, acceptedAt: row.accepted_at });
  }

  const result: RealtimeHistory[] = [];
  for (const userId of [...facts.keys()].sort()) {
    const user = facts.get(userId)!;
    for (const product of products) {
      const intervals = openIntervals(user, product, window);
      if (intervals.length > 0) result.push({ userId, product: product.id, intervals });
    }
  }
  return result;
}

/** When one user counted for one product during a month: the instants the category is judged at. */
export interface CountedFor {
  userId: string;
  /**
   * Where real time was open to them or they received it (any order, may overlap); empty when
   * they counted at no instant.
   */
  intervals: readonly Interval[];
}

/**
 * The category of each of `counted` for `month` (`YYYY-MM`), in the same order
 * (`categoryWhileCounted`), from the attestations in effect before the month ends; a user with
 * none, or with no user row, is professional.
 */
export async function categoriesForMonth(
  q: Queryable,
  month: string,
  counted: readonly CountedFor[],
): Promise<Category[]> {
  const { end } = monthBounds(month);
  const userIds = [...new Set(counted.map((entry) => entry.userId))];
  const { rows } = await q.query<{ user_id: string; status: Category; at: number }>(
    `select user_id, status, coalesce(effective_from, at) as at from attestations
      where user_id = any($1::text[]) and coalesce(effective_from, at) < $2
      order by user_id, coalesce(effective_from, at), id`,
    [userIds, end],
  );
  const attestations = new Map<string, AttestationFact[]>();
  for (const row of rows) {
    let list = attestations.get(row.user_id);
    if (!list) {
      list = [];
      attestations.set(row.user_id, list);
    }
    list.push({ status: row.status, at: row.at });
  }
  return counted.map((entry) =>
    categoryWhileCounted({ attestations: attestations.get(entry.userId) ?? [] }, month, entry.intervals),
  );
}

/** A grant row as kept: effect dates (`validFrom`, `revokedAt`) and entry times, as stored. */
export interface GrantEvidence {
  id: number;
  product: string;
  validFrom: number;
  validTo: number | null;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
  revokedBy: string | null;
  /** When a backdated revocation was entered; null when it was entered as it took effect. */
  revocationEnteredAt: number | null;
  /** The grant that replaced this one, when that is why it ended. */
  supersededBy: number | null;
}

export interface AgreementEvidence {
  id: number;
  licensor: string;
  version: string;
  acceptedAt: number;
}

export interface AttestationEvidence {
  id: number;
  status: Category;
  /** When it was entered. */
  at: number;
  /** When it took effect, for one recorded late; null when it took effect as it was entered. */
  effectiveFrom: number | null;
  /** The questionnaire, byte for byte as recorded (JSON text), or null. */
  answers: string | null;
}

/** Everything on file that a user's real-time access and category were decided from. */
export interface EntitlementEvidence {
  userId: string;
  grants: GrantEvidence[];
  agreements: AgreementEvidence[];
  attestations: AttestationEvidence[];
}

/**
 * The grant, agreement and attestation rows of each of `users`, in id order (the order they were
 * entered), users in code-point order; a user with none (or no user row) has empty lists. This is
 * the evidence behind a month's counting, for an auditor to re-derive who was entitled and when.
 */
export async function entitlementEvidence(
  q: Queryable,
  users: readonly string[],
): Promise<EntitlementEvidence[]> {
  const ids = [...new Set(users)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const byUser = new Map<string, EntitlementEvidence>(
    ids.map((userId) => [userId, { userId, grants: [], agreements: [], attestations: [] }]),
  );
  const grants = await q.query<GrantEvidence & { userId: string }>(
    `select user_id as "userId", id, product, valid_from as "validFrom", valid_to as "validTo",
        created_at as "createdAt", created_by as "createdBy", revoked_at as "revokedAt",
        revoked_by as "revokedBy", revocation_entered_at as "revocationEnteredAt", superseded_by as "supersededBy"
      from grants where user_id = any($1::text[]) order by id`,
    [ids],
  );
  for (const { userId, ...grant } of grants.rows) byUser.get(userId)?.grants.push(grant);
  const agreements = await q.query<AgreementEvidence & { userId: string }>(
    `select user_id as "userId", id, licensor, version, accepted_at as "acceptedAt"
      from agreements where user_id = any($1::text[]) order by id`,
    [ids],
  );
  for (const { userId, ...agreement } of agreements.rows) byUser.get(userId)?.agreements.push(agreement);
  const attestations = await q.query<AttestationEvidence & { userId: string }>(
    `select user_id as "userId", id, status, at, effective_from as "effectiveFrom", answers
      from attestations where user_id = any($1::text[]) order by id`,
    [ids],
  );
  for (const { userId, ...attestation } of attestations.rows)
    byUser.get(userId)?.attestations.push(attestation);
  return [...byUser.values()];
}
