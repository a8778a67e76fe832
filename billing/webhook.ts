/**
 * Stripe's events about payments, and what each does to a user's access. Every event is handled
 * once, by its id, in one transaction with its effect and audit record; a redelivery does nothing.
 *
 * - `invoice.payment_failed`: a hold on the invoice, due after the grace (`MDHUB_BILLING_GRACE_MS`,
 *   counted from when Stripe created the earliest failure event); the worker applies it when due.
 *   A failure of an invoice already recorded paid is `stale` and changes nothing.
 * - `invoice.paid`: records the invoice paid and releases its hold, and a deleted-subscription
 *   hold when the invoice belongs to another (a new) subscription: payment restores real time.
 *
 * Stripe does not deliver events in order, so what an invoice event does follows the invoice's
 * own state (`billing_invoices`), never the order events arrive in: paid is final in Stripe.
 * - `customer.subscription.deleted`: a hold due at once. The account is not closed — delayed data
 *   and the account's history stay; only real time stops until the user pays again.
 */
import { z } from 'zod';
import { appendAudit } from '../audit/index.js';
import type { Db, Tx } from '../platform/db/index.js';
import { addHold, removeHolds, syncDelinquency, webhookActor } from './holds.js';

export const HANDLED_EVENTS = [
  'invoice.paid',
  'invoice.payment_failed',
  'customer.subscription.deleted',
] as const;

const idOrObject = z
  .union([z.string(), z.object({ id: z.string() })])
  .transform((v) => (typeof v === 'string' ? v : v.id));

const eventSchema = z.object({
  id: z.string().min(1).max(255),
  type: z.string().min(1).max(255),
  created: z.number().int(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

const invoiceSchema = z.object({
  id: z.string(),
  customer: idOrObject.nullable(),
  parent: z.object({ subscription_details: z.object({ subscription: idOrObject }).nullish() }).nullish(),
});

const subscriptionSchema = z.object({ id: z.string(), customer: idOrObject });

export type StripeEvent = z.infer<typeof eventSchema>;

/** Checks an event (already signature-verified) has the fields mdhub reads; undefined otherwise. */
export function parseStripeEvent(data: unknown): StripeEvent | undefined {
  const parsed = eventSchema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}

export type WebhookOutcome =
  | 'duplicate'
  | 'ignored'
  | 'unknown_customer'
  | 'invalid_object'
  | 'hold_added'
  | 'hold_released'
  | 'stale'
  | 'delinquent';

export interface WebhookResult {
  outcome: WebhookOutcome;
  userId?: string;
  /** Users whose decisions changed: publish after the commit. */
  changed: string[];
}

async function userOf(tx: Tx, customerId: string | null): Promise<string | undefined> {
  if (!customerId) return undefined;
  const { rows } = await tx.query<{ user_id: string }>(
    'select user_id from billing_customers where stripe_customer_id = $1',
    [customerId],
  );
  return rows[0]?.user_id;
}

type InvoiceStatus = 'payment_failed' | 'paid';

/** The invoice's recorded status, its row locked so two events of one invoice apply one after the other. */
async function invoiceStatus(tx: Tx, invoiceId: string): Promise<InvoiceStatus | undefined> {
  const { rows } = await tx.query<{ status: InvoiceStatus }>(
    'select status from billing_invoices where id = $1 for update',
    [invoiceId],
  );
  return rows[0]?.status;
}

/** Records what an event says of an invoice; `paid` is never overwritten, as in Stripe. */
async function recordInvoice(
  tx: Tx,
  row: { id: string; userId: string; status: InvoiceStatus; eventId: string; since: number; at: number },
): Promise<void> {
  await tx.query(
    `insert into billing_invoices (id, user_id, status, event_id, status_at, updated_at)
      values ($1, $2, $3, $4, $5, $6)
      on conflict (id) do update set status = excluded.status, event_id = excluded.event_id,
        status_at = excluded.status_at, updated_at = excluded.updated_at
      where billing_invoices.status <> 'paid'`,
    [row.id, row.userId, row.status, row.eventId, row.since, row.at],
  );
}

interface Target {
  customerId: string | null;
  apply: (tx: Tx, userId: string) => Promise<{ outcome: WebhookOutcome; changed: string[] }>;
  details: Record<string, string | null>;
}

/** What an event does, or why it does nothing: not an event mdhub acts on, or an object it cannot read. */
function targetOf(event: StripeEvent, at: number, graceMs: number): Target | 'ignored' | 'invalid_object' {
  const since = event.created * 1000;
  const actor = webhookActor(event.id);
  if (event.type === 'invoice.payment_failed' || event.type === 'invoice.paid') {
    const parsed = invoiceSchema.safeParse(event.data.object);
    if (!parsed.success) return 'invalid_object';
    const invoice = parsed.data;
    const subscription = invoice.parent?.subscription_details?.subscription ?? null;
    const details = { invoice: invoice.id, subscription };
    if (event.type === 'invoice.payment_failed') {
      return {
        customerId: invoice.customer,
        details,
        async apply(tx, userId) {
          if ((await invoiceStatus(tx, invoice.id)) === 'paid') return { outcome: 'stale', changed: [] };
          await recordInvoice(tx, {
            id: invoice.id,
            userId,
            status: 'payment_failed',
            eventId: event.id,
            since,
            at,
          });
          await addHold(tx, {
            userId,
            kind: 'invoice',
            ref: invoice.id,
            eventId: event.id,
            since,
            dueAt: since + graceMs,
          });
          const changed = await syncDelinquency(
            tx,
            userId,
            at,
            actor,
            `payment of invoice ${invoice.id} failed`,
          );
          return { outcome: 'hold_added', changed };
        },
      };
    }
    return {
      customerId: invoice.customer,
      details,
      async apply(tx, userId) {
        await recordInvoice(tx, { id: invoice.id, userId, status: 'paid', eventId: event.id, since, at });
        await removeHolds(tx, userId, 'invoice', [invoice.id]);
        if (subscription) {
          await tx.query(
            "delete from billing_holds where user_id = $1 and kind = 'subscription' and ref <> $2",
            [userId, subscription],
          );
        }
        const changed = await syncDelinquency(tx, userId, at, actor, `invoice ${invoice.id} was paid`);
        return { outcome: 'hold_released', changed };
      },
    };
  }
  if (event.type === 'customer.subscription.deleted') {
    const parsed = subscriptionSchema.safeParse(event.data.object);
    if (!parsed.success) return 'invalid_object';
    const subscription = parsed.data;
    return {
      customerId: subscription.customer,
      details: { subscription: subscription.id },
      async apply(tx, userId) {
        await addHold(tx, {
          userId,
          kind: 'subscription',
          ref: subscription.id,
          eventId: event.id,
          since,
          dueAt: since,
        });
        const changed = await syncDelinquency(
          tx,
          userId,
          at,
          actor,
          `subscription ${subscription.id} was deleted`,
        );
        return { outcome: 'delinquent', changed };
      },
    };
  }
  return 'ignored';
}

/**
 * Handles one verified event at `at` (epoch ms). The event id is recorded first: a second delivery
 * (Stripe retries, or a replay inside the signature tolerance) finds it and changes nothing.
 */
export async function handleStripeEvent(
  db: Db,
  event: StripeEvent,
  options: { at: number; graceMs: number },
): Promise<WebhookResult> {
  const target = targetOf(event, options.at, options.graceMs);
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      `insert into billing_webhook_events (id, type, outcome, received_at) values ($1, $2, 'received', $3)
        on conflict (id) do nothing`,
      [event.id, event.type, options.at],
    );
    if (rowCount === 0) return { outcome: 'duplicate', changed: [] };
    let result: WebhookResult;
    let customerId: string | null = null;
    if (typeof target === 'string') {
      result = { outcome: target, changed: [] };
    } else {
      customerId = target.customerId;
      const userId = await userOf(tx, customerId);
      if (!userId) {
        result = { outcome: 'unknown_customer', changed: [] };
      } else {
        const { outcome, changed } = await target.apply(tx, userId);
        result = { outcome, userId, changed };
        await appendAudit(tx, {
          actor: webhookActor(event.id),
          action: 'billing.webhook',
          subject: `user:${userId}`,
          details: { event: event.id, type: event.type, outcome, customer: customerId, ...target.details },
          at: options.at,
        });
      }
    }
    await tx.query(
      'update billing_webhook_events set outcome = $2, stripe_customer_id = $3, user_id = $4 where id = $1',
      [event.id, result.outcome, customerId, result.userId ?? null],
    );
    return result;
  });
}
