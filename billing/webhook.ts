/**
 * Stripe's events about payments, and what each does to a user's access. Every event is handled
 * once, by its id, in one transaction with its effect and audit record; a redelivery does nothing.
 *
 * - `invoice.payment_failed`: a hold on the invoice, due after the grace (`MDHUB_BILLING_GRACE_MS`,
 *   counted from when Stripe created the event); the worker applies it when due.
 * - `invoice.paid`: releases that invoice's hold, and a deleted-subscription hold when the
 *   invoice belongs to another (a new) subscription: payment restores real time.
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
