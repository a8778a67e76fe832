-- Filings (DESIGN rule 10, docs/usage-reports.md "Filings"): the exact bytes of each monthly usage
-- report handed to the exchanges, kept append-only like the audit log, and the usage events that
-- reached the ledger after their month was filed.

-- Ids are taken before the row is written (nextval), so the audit record of a filing can name it.
create sequence report_filing_ids;

-- One filing of a month, for every licensor (licensor null) or for one; an amendment names the
-- filing it replaces, so each (month, licensor) is one chain: filing -> amendment -> amendment.
create table report_filings (
  id int8 primary key,
  month text not null check (month ~ '^[0-9]{4}-[0-9]{2}$'),
  licensor text,
  replaces int8 unique references report_filings (id),
  catalog_version text not null,
  filed_at int8 not null,
  actor_type text not null,
  actor_id text not null,
  actor_role text,
  -- Why an amendment was filed, and its delta against the filing it replaces (canonical JSON).
  reason text,
  delta_json text,
  -- The audit record written in the same transaction, carrying the files' hashes.
  audit_seq int8 not null,
  check ((replaces is null) = (reason is null)),
  check ((replaces is null) = (delta_json is null))
);
-- One first filing per (month, licensor): later changes are amendments.
create unique index report_filings_first on report_filings (month, coalesce(licensor, '')) where replaces is null;
create index report_filings_month on report_filings (month, id);

-- The four renderings of each filing (JSON and CSV, summary and detail), byte for byte.
create table report_filing_files (
  filing_id int8 not null references report_filings (id),
  format text not null check (format in ('json', 'csv')),
  detail boolean not null,
  body bytea not null,
  sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
  primary key (filing_id, format, detail)
);

CREATE FUNCTION filing_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'filings are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Statement-level, so even an UPDATE or DELETE that matches no row is refused.
CREATE TRIGGER report_filings_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON report_filings
  FOR EACH STATEMENT EXECUTE FUNCTION filing_refuse_change();
CREATE TRIGGER report_filing_files_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON report_filing_files
  FOR EACH STATEMENT EXECUTE FUNCTION filing_refuse_change();

-- Usage events counted after their month had a filing, written by the ledger in the transaction
-- that counts them (by event id, so a replay adds nothing). filing_id is the month's latest
-- filing at that commit: the event is late for that filing and every later one of the month.
create table usage_late (
  event_id text primary key,
  -- Order of arrival, for whoever watches for new ones (the drift gauge).
  seq int8 generated always as identity unique,
  month text not null,
  filing_id int8 not null references report_filings (id),
  kind text not null,
  product text not null,
  user_id text not null,
  device_id text not null,
  day text not null,
  -- The event's own time, and when the ledger committed it.
  at int8 not null,
  received_at int8 not null
);
create index usage_late_month on usage_late (month, filing_id);
