-- The audit log (DESIGN rule 8, docs/audit.md): append-only and hash-chained. Payloads are kept as
-- canonical JSON text, not jsonb, because jsonb re-orders keys and re-prints numbers and the hash
-- must be recomputable byte for byte.
CREATE TABLE audit_log (
  seq int8 PRIMARY KEY CHECK (seq >= 1),
  at int8 NOT NULL,
  actor_type text NOT NULL CHECK (actor_type IN ('operator', 'user', 'webhook', 'system')),
  actor_id text NOT NULL,
  actor_role text,
  action text NOT NULL,
  subject text NOT NULL,
  before_json text,
  after_json text,
  details_json text,
  prev_hash text NOT NULL,
  hash text NOT NULL
);

CREATE INDEX audit_log_subject_seq ON audit_log (subject, seq);
CREATE INDEX audit_log_at_seq ON audit_log (at, seq);

-- The one row every writer locks (SELECT ... FOR UPDATE) to take the next sequence number: appends
-- are serialised so the chain never forks, and a rolled-back append leaves no gap, which a
-- sequence object would.
CREATE TABLE audit_head (
  id int PRIMARY KEY CHECK (id = 1),
  seq int8 NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Statement-level, so even an UPDATE or DELETE that matches no row is refused.
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

CREATE TRIGGER audit_head_kept BEFORE DELETE OR TRUNCATE ON audit_head
  FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The head only moves forward, and only onto a record that exists with that hash: it can never be
-- wound back to hide the tail of the log.
CREATE FUNCTION audit_head_advance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id <> OLD.id OR NEW.seq <= OLD.seq
     OR NOT EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq AND hash = NEW.hash) THEN
    RAISE EXCEPTION 'the audit head may only advance to an existing record (from % to %)', OLD.seq, NEW.seq
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER audit_head_advances BEFORE UPDATE ON audit_head
  FOR EACH ROW EXECUTE FUNCTION audit_head_advance();
