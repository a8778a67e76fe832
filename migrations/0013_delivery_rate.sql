-- Per-plan delivery rate (docs/distribution.md "Delivery rate"): at most this many updates a second
-- per symbol and channel type reach a session; above it the edge conflates to the latest value.
-- null: no limit. A user's rate and the rate of the grant in effect both apply (the smaller wins).
-- A grant's rate is part of the grant row, so the rate in force at any past instant can be read
-- back like the grant itself; the user's is a current setting, its changes kept in the audit log.
alter table users add column max_updates_per_second int
  check (max_updates_per_second is null or max_updates_per_second between 1 and 1000);
alter table grants add column max_updates_per_second int
  check (max_updates_per_second is null or max_updates_per_second between 1 and 1000);
