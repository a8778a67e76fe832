/**
 * A grant row as the admin API and the audit log show it. `validFrom` and `revokedAt` are effect
 * dates; `createdAt` and `revocationEnteredAt` are when the grant and its revocation were entered
 * (later than the effect dates only for a backdated correction).
 */
export interface GrantRecord {
  id: number;
  product: string;
  validFrom: number;
  validTo: number | null;
  createdAt: number;
  createdBy: string;
  revokedAt: number | null;
  revokedBy: string | null;
  revocationEnteredAt: number | null;
  supersededBy: number | null;
  /** Updates a second per symbol the grant delivers at most; null: no limit of its own. */
  maxUpdatesPerSecond: number | null;
}

export interface GrantRow {
  id: number;
  product: string;
  valid_from: number;
  valid_to: number | null;
  created_at: number;
  created_by: string;
  revoked_at: number | null;
  revoked_by: string | null;
  revocation_entered_at: number | null;
  superseded_by: number | null;
  max_updates_per_second: number | null;
}

export const GRANT_COLUMNS =
  'id, product, valid_from, valid_to, created_at, created_by, revoked_at, revoked_by, revocation_entered_at, superseded_by, max_updates_per_second';

export function toGrantRecord(row: GrantRow): GrantRecord {
  return {
    id: row.id,
    product: row.product,
    validFrom: row.valid_from,
    validTo: row.valid_to,
    createdAt: row.created_at,
    createdBy: row.created_by,
    revokedAt: row.revoked_at,
    revokedBy: row.revoked_by,
    revocationEnteredAt: row.revocation_entered_at ?? row.revoked_at,
    supersededBy: row.superseded_by,
    maxUpdatesPerSecond: row.max_updates_per_second,
  };
}

/**
 * SQL condition for grants still to have an effect at `$at`: not revoked and not past their end.
 * These are what a new grant supersedes and what a revocation ends.
 */
export function openGrantCondition(atParam: string): string {
  return `revoked_at is null and (valid_to is null or valid_to > ${atParam})`;
}
