-- The usage ledger (DESIGN rules 6 and 7, docs/usage-reports.md), written by the meter from the
-- usage events the edges emit. Days are UTC calendar days written YYYY-MM-DD (text, not date: a
-- driver turning a date into a local-time JS Date would shift it), months YYYY-MM, times int8
-- epoch milliseconds UTC.

-- Every usage event the ledger has counted, by its unique id. Inserted in the transaction that
-- counts the event, so a redelivered, replayed or duplicated event is recognised and counted once.
create table usage_events_seen (
  id text primary key,
  -- The event's own time, so that ids older than any possible replay can be pruned one day.
  at int8 not null
);

-- Per (user, device, product, UTC day). device_id is '' for a token bound to no device.
-- first/last real-time access are null when the device had only delayed data or queries that day;
-- sessions counts the sessions that received the product in real time that day.
create table usage_daily (
  product text not null,
  day text not null check (day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
  user_id text not null,
  device_id text not null,
  first_realtime_at int8,
  last_realtime_at int8,
  deliveries int8 not null default 0 check (deliveries >= 0),
  queries int8 not null default 0 check (queries >= 0),
  realtime_queries int8 not null default 0 check (realtime_queries >= 0),
  sessions int8 not null default 0 check (sessions >= 0),
  primary key (product, day, user_id, device_id)
);

-- The (session, product, day)s seen receiving real time, so a session counts once per day it was
-- open, however many events it sent that day: one crossing midnight or a month end counts on every
-- day (and so in every month) it touched.
create table usage_session_days (
  edge_id text not null,
  session_id text not null,
  user_id text not null,
  device_id text not null,
  product text not null,
  day text not null,
  primary key (edge_id, session_id, user_id, device_id, product, day)
);

-- The session log, from session_open / session_close; closed_at is null while open (or when the
-- edge died before it could say).
create table usage_sessions (
  edge_id text not null,
  session_id text not null,
  user_id text not null,
  device_id text not null,
  opened_at int8 not null,
  closed_at int8,
  close_reason text,
  primary key (edge_id, session_id)
);
create index usage_sessions_opened on usage_sessions (opened_at);

-- Bus entries the meter could not read as a usage event, kept as evidence with the reason;
-- acknowledged on the bus so one bad entry never blocks the stream.
create table usage_dead_letters (
  entry_id text primary key,
  reason text not null,
  -- The entry as received (at most 64 KiB of it) and its full size.
  payload bytea not null,
  payload_size int not null,
  received_at int8 not null
);

-- Per (user, product, month), what a report counted: written by report generation, from the
-- daily ledger and the immutable entitlement history, so it is the same however often the month
-- is regenerated until a late event for that month arrives.
create table usage_monthly (
  month text not null check (month ~ '^[0-9]{4}-[0-9]{2}$'),
  product text not null,
  user_id text not null,
  category text not null check (category in ('professional', 'non_professional')),
  -- Held a real-time grant while the licensor's agreement was on file, at some instant of the month.
  entitled boolean not null,
  -- Received at least one real-time delivery or real-time snapshot in the month.
  accessed boolean not null,
  devices int not null,
  queries int8 not null,
  first_realtime_at int8,
  last_realtime_at int8,
  primary key (month, product, user_id)
);
