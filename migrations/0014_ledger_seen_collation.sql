-- usage_events_seen.id in the "C" collation: the ledger inserts one id per usage event (the
-- meter's busiest index), and an id is only ever looked up for equality, never sorted for a
-- reader. Under the database's default collation (a libc locale, even C.UTF-8) every comparison
-- of the primary key's btree goes through strcoll; under "C" it is a plain byte comparison, about
-- a tenth off the insert (docs/usage-reports.md "Writing the ledger"). Equality is the same under
-- both, so which ids count as seen does not change. Rewrites the table and its index once.
alter table usage_events_seen alter column id type text collate "C";
