import type { Db } from '../platform/db/index.js';
import { customerIdempotencyKey } from './identifier.js';
import type { PaymentProvider } from './provider.js';

/** The user's Stripe customer id, if one was created. */
export async function customerOf(db: Db, userId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ stripe_customer_id: string }>(
    'select stripe_customer_id from billing_customers where user_id = $1',
    [userId],
  );
  return rows[0]?.stripe_customer_id;
}

/**
 * The user's Stripe customer, created the first time the user is billed. Creation carries one
 * Idempotency-Key per user, so two workers racing create one customer; the first stored link wins
 * and every later call reads it.
 */
export async function ensureCustomer(
  db: Db,
  provider: PaymentProvider,
  userId: string,
  at: number,
): Promise<string> {
  const known = await customerOf(db, userId);
  if (known) return known;
  const created = await provider.createCustomer({ userId, idempotencyKey: customerIdempotencyKey(userId) });
  await db.query(
    `insert into billing_customers (user_id, stripe_customer_id, created_at) values ($1, $2, $3)
      on conflict (user_id) do nothing`,
    [userId, created, at],
  );
  return (await customerOf(db, userId)) ?? created;
}
