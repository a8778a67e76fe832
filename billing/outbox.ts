/**
 * The outbox's state machine, in SQL. A row is `pending` until a worker claims it (`sending`,
 * with a lease), then `sent` when Stripe accepted it, back to `pending` with a later
 * `next_attempt_at` when the attempt may be retried, or `dead` when it can never be sent safely.
 * A worker that dies mid-attempt leaves its row `sending`; once the lease runs out another worker
 * takes it over as an attempt of unknown outcome.
 *
 * The row, not Stripe, decides about resending: Stripe deduplicates an identifier (and an
 * Idempotency-Key) for about 24 hours only. While an attempt that may have reached Stripe is
 * younger than the dedupe window, resending the same identifier and key is harmless; after it,
 * a resend could bill twice, so the row goes `dead` (`uncertain`) for a person to check against
 * the reconciliation, which compares with what Stripe actually holds.
 */
import { appendAudit } from '../audit/index.js';
import type { Db, Tx } from '../platform/db/index.js';
import { BILLING_ACTOR } from './close.js';
import { METER_EVENT_MAX_AGE_MS } from './provider.js';

export const OUTBOX_STATUSES = ['pending', 'sending', 'sent', 'dead'] as const;
export type OutboxStatus = (typeof OUTBOX_STATUSES)[number];

/** Why a charge was given up on. */
export type DeadReason = 'too_old' | 'rejected' | 'uncertain';

export interface ClaimedCharge {
  id: number;
  userId: string;
  product: string;
  month: string;
  identifier: string;
  eventName: string;
  value: number;
  eventAt: number;
  attempts: number;
  claimedAt: number;
}

export interface ClaimOptions {
  now: number;
  limit: number;
  leaseMs: number;
  /** How long after an attempt of unknown outcome a resend is still deduplicated by Stripe. */
  dedupeWindowMs: number;
}

export interface ClaimResult {
  claimed: ClaimedCharge[];
  dead: Array<{ id: number; reason: DeadReason }>;
}

interface DueRow {
  id: number;
  user_id: string;
  product: string;
  month: string;
  identifier: string;
  event_name: string;
  value: number;
  event_at: number;
  status: OutboxStatus;
  attempts: number;
  claimed_at: number | null;
  uncertain_since: number | null;
}

async function markDead(
  tx: Tx,
  row: { id: number; identifier: string },
  reason: DeadReason,
  message: string,
  at: number,
  answer: { status?: number; code?: string } = {},
): Promise<void> {
  await tx.query(
    `update billing_outbox set status = 'dead', lease_until = null, last_error_code = $2, last_error = $3,
        last_status = coalesce($4, last_status)
      where id = $1`,
    [row.id, answer.code ?? reason, message, answer.status ?? null],
  );
  await appendAudit(tx, {
    actor: BILLING_ACTOR,
    action: 'billing.charge_dead',
    subject: `billing:charge:${row.identifier}`,
    details: { reason, message, status: answer.status ?? null, code: answer.code ?? null },
    at,
  });
}

/**
 * Claims up to `limit` due rows for this worker: pending ones whose time has come, and sending
 * ones whose worker's lease ran out. Rows locked by another worker are skipped, never waited on.
 */
export async function claimDue(db: Db, options: ClaimOptions): Promise<ClaimResult> {
  const { now } = options;
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<DueRow>(
      `select id, user_id, product, month, identifier, event_name, value, event_at, status, attempts, claimed_at,
          uncertain_since
        from billing_outbox
        where (status = 'pending' and next_attempt_at <= $1) or (status = 'sending' and lease_until <= $1)
        order by next_attempt_at, id
        limit $2
        for update skip locked`,
      [now, options.limit],
    );
    const result: ClaimResult = { claimed: [], dead: [] };
    for (const row of rows) {
      // A lapsed 'sending' row is an attempt whose answer was never recorded: it may have landed.
      const uncertainSince =
        row.status === 'sending' ? (row.uncertain_since ?? row.claimed_at) : row.uncertain_since;
      if (uncertainSince !== null && now - uncertainSince > options.dedupeWindowMs) {
        await tx.query('update billing_outbox set uncertain_since = $2 where id = $1', [
          row.id,
          uncertainSince,
        ]);
        await markDead(
          tx,
          row,
          'uncertain',
          `an attempt of unknown outcome began at ${new Date(uncertainSince).toISOString()}, longer ago than ` +
            'Stripe deduplicates; resending could bill twice, so it was not resent',
          now,
        );
        result.dead.push({ id: row.id, reason: 'uncertain' });
        continue;
      }
      if (now - row.event_at > METER_EVENT_MAX_AGE_MS) {
        await markDead(
          tx,
          row,
          'too_old',
          'the charge is older than the 35 days Stripe accepts meter events for',
          now,
        );
        result.dead.push({ id: row.id, reason: 'too_old' });
        continue;
      }
      await tx.query(
        `update billing_outbox set status = 'sending', attempts = attempts + 1, claimed_at = $2, lease_until = $3,
            uncertain_since = $4
          where id = $1`,
        [row.id, now, now + options.leaseMs, uncertainSince],
      );
      result.claimed.push({
        id: row.id,
        userId: row.user_id,
        product: row.product,
        month: row.month,
        identifier: row.identifier,
        eventName: row.event_name,
        value: row.value,
        eventAt: row.event_at,
        attempts: row.attempts + 1,
        claimedAt: now,
      });
    }
    return result;
  });
}

/** Stripe accepted the event. Recorded even if the lease lapsed meanwhile: it is the truth. */
export async function recordSent(
  db: Db,
  charge: ClaimedCharge,
  customerId: string,
  at: number,
): Promise<void> {
  await db.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      `update billing_outbox set status = 'sent', sent_at = $2, stripe_customer_id = $3, last_status = 200,
          last_error_code = null, last_error = null, uncertain_since = null, lease_until = null
        where id = $1 and status <> 'sent'`,
      [charge.id, at, customerId],
    );
    if (rowCount === 0) return;
    await appendAudit(tx, {
      actor: BILLING_ACTOR,
      action: 'billing.charge_sent',
      subject: `billing:charge:${charge.identifier}`,
      details: {
        userId: charge.userId,
        product: charge.product,
        month: charge.month,
        value: charge.value,
        customer: customerId,
        attempts: charge.attempts,
      },
      at,
    });
  });
}

export interface FailedAttempt {
  /** Whether this attempt may have reached Stripe. */
  uncertain: boolean;
  retryAt: number;
  status?: number;
  code?: string;
  message: string;
}

/**
 * The attempt failed and may be retried at `retryAt`. Only this worker's own claim is updated:
 * if the lease lapsed and another worker took the row over, that worker decides.
 */
export async function recordRetry(db: Db, charge: ClaimedCharge, failure: FailedAttempt): Promise<void> {
  await db.query(
    `update billing_outbox set status = 'pending', next_attempt_at = $3, lease_until = null, last_status = $4,
        last_error_code = $5, last_error = $6,
        uncertain_since = case when $7::boolean then coalesce(uncertain_since, claimed_at) else uncertain_since end
      where id = $1 and status = 'sending' and claimed_at = $2`,
    [
      charge.id,
      charge.claimedAt,
      failure.retryAt,
      failure.status ?? null,
      failure.code ?? null,
      failure.message,
      failure.uncertain,
    ],
  );
}

/** Stripe refused the event for good. */
export async function recordDead(
  db: Db,
  charge: ClaimedCharge,
  reason: DeadReason,
  answer: { status?: number; code?: string; message: string },
  at: number,
): Promise<void> {
  await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: number }>(
      "select id from billing_outbox where id = $1 and status = 'sending' and claimed_at = $2 for update",
      [charge.id, charge.claimedAt],
    );
    if (rows.length === 0) return;
    await markDead(tx, charge, reason, answer.message, at, answer);
  });
}

/** Row counts by status, for the outbox gauge. */
export async function outboxCounts(db: Db): Promise<Record<OutboxStatus, number>> {
  const { rows } = await db.query<{ status: OutboxStatus; n: number }>(
    'select status, count(*)::int8 as n from billing_outbox group by status',
  );
  const counts: Record<OutboxStatus, number> = { pending: 0, sending: 0, sent: 0, dead: 0 };
  for (const row of rows) counts[row.status] = row.n;
  return counts;
}
