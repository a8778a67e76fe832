-- Billing (DESIGN rule 9, docs/billing.md): Stripe customers, the meter-event outbox, month
-- closes, received webhook events and the billing holds that make a user delinquent. Times are
-- int8 epoch milliseconds UTC, months YYYY-MM, money int8 micro-dollars or int8 meter units.

-- The Stripe customer of each user, created on demand the first time the user is billed.
create table billing_customers (
  user_id text primary key references users (id),
  stripe_customer_id text not null unique,
  created_at int8 not null
);

-- One row per billable (user, product, month): written by the month close in the transaction that
-- reads the ledger, sent by the worker, and the truth about what Stripe was told. Stripe only
-- deduplicates an identifier for about 24 hours, so a resend is decided here, never by Stripe.
create table billing_outbox (
  id int8 generated always as identity primary key,
  user_id text not null references users (id),
  product text not null,
  month text not null check (month ~ '^[0-9]{4}-[0-9]{2}$'),
  category text not null check (category in ('professional', 'non_professional')),
  -- The meter event's identifier and Idempotency-Key, the same on every attempt.
  identifier text not null unique,
  event_name text not null,
  -- The exchange fee the ledger reports for this subscriber, and the price applied on top of it.
  exchange_fee_micros int8 not null check (exchange_fee_micros >= 0),
  amount_micros int8 not null check (amount_micros >= 0),
  -- Meter units sent to Stripe (cents: the Stripe price is $0.01 a unit).
  value int8 not null check (value > 0),
  price_rule text not null,
  -- The meter event's timestamp: the last second of the month it charges for.
  event_at int8 not null,
  status text not null default 'pending' check (status in ('pending', 'sending', 'sent', 'dead')),
  attempts int not null default 0,
  next_attempt_at int8 not null,
  -- While 'sending': when the attempt began, and when another worker may assume it crashed.
  claimed_at int8,
  lease_until int8,
  -- The start of the first attempt that may have reached Stripe without an answer recorded; a
  -- resend is only safe while Stripe still deduplicates from there.
  uncertain_since int8,
  stripe_customer_id text,
  -- Stripe's last answer: HTTP status, error code and message, or the accepted event's time.
  last_status int,
  last_error_code text,
  last_error text,
  sent_at int8,
  created_at int8 not null,
  unique (user_id, product, month)
);
create index billing_outbox_due on billing_outbox (status, next_attempt_at);
create index billing_outbox_month on billing_outbox (month, user_id, product);

-- Months whose charges have been derived from the ledger; the worker closes each month once.
create table billing_months (
  month text primary key check (month ~ '^[0-9]{4}-[0-9]{2}$'),
  closed_at int8 not null,
  charges int not null,
  amount_micros int8 not null
);

-- Every Stripe event received, by its id: a redelivered event is recognised and does nothing.
create table billing_webhook_events (
  id text primary key,
  type text not null,
  stripe_customer_id text,
  user_id text,
  outcome text not null,
  received_at int8 not null
);

-- Why a user should be delinquent: an unpaid invoice (from its grace deadline on) or a deleted
-- subscription. The user is delinquent while any hold is due; paying removes the invoice's hold.
create table billing_holds (
  user_id text not null references users (id),
  kind text not null check (kind in ('invoice', 'subscription')),
  -- The Stripe invoice or subscription id.
  ref text not null,
  event_id text not null,
  since int8 not null,
  due_at int8 not null,
  applied boolean not null default false,
  primary key (user_id, kind, ref)
);
create index billing_holds_due on billing_holds (applied, due_at);
