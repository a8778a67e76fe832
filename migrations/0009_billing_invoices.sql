-- What mdhub has learned of each Stripe invoice from its events (docs/billing.md, "Events out of
-- order"). Stripe delivers events in no particular order, so a late `invoice.payment_failed` can
-- arrive after the same invoice's `invoice.paid`. A paid invoice is final in Stripe (it never goes
-- back to open), so once recorded paid, a failure of that invoice is stale and changes nothing.
create table billing_invoices (
  id text primary key,
  user_id text not null references users (id),
  status text not null check (status in ('payment_failed', 'paid')),
  -- The event that set the status, and Stripe's `created` for it (epoch ms).
  event_id text not null,
  status_at int8 not null,
  updated_at int8 not null
);
create index billing_invoices_user on billing_invoices (user_id);
