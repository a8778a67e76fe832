-- Closing the sessions of an edge that died without saying so (docs/usage-reports.md, "Sessions
-- of a lost edge"). The meter's sweeper closes a session whose slot has lapsed with reason
-- 'edge_lost' and closed_at the last instant the ledger knows it was alive; a session_close that
-- arrives later still replaces both.

-- The latest instant a usage event showed the session alive: the `lastAt` of its delivery flushes
-- and the `at` of its first accesses. Null until one arrives.
alter table usage_sessions add column last_seen_at int8;

-- The sweeper's scan: open sessions, oldest first.
create index usage_sessions_open on usage_sessions (opened_at, edge_id, session_id) where closed_at is null;
