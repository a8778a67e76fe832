-- The entitlement change outbox (docs/entitlements.md, "Change feed"). Every verb that may change a
-- user's decisions writes one row here in its own transaction, so a committed change is never
-- lost to a failed publish: the api role's relay publishes unpublished rows (at once after the
-- commit, and on a sweep), and every edge compares the head below with what it has applied.

-- The head: the seq of the latest committed change. Taken with a row lock by each changing
-- transaction, so seqs are handed out in commit order with no gaps, and an edge that has applied
-- everything up to seq n knows that any change it has not seen is above n, and that rows missing
-- between n and the head were pruned (it then reloads everything).
create table entitlement_change_head (
  id int primary key check (id = 1),
  seq int8 not null
);
insert into entitlement_change_head (id, seq) values (1, 0);

create table entitlement_changes (
  seq int8 primary key,
  user_id text not null,
  -- The instant of the change (the verb's `at`).
  at int8 not null,
  -- When the relay published it on the bus; null until then. Published rows are pruned after a
  -- retention, the head keeps counting.
  published_at int8
);
-- The relay's scan: unpublished rows in seq order.
create index entitlement_changes_unpublished on entitlement_changes (seq) where published_at is null;
