-- Entitlements: users, categories, agreements, real-time grants, user tokens, operators.
-- Every time is int8 epoch milliseconds UTC. History is kept: attestations and agreements are
-- append-only; a grant row's validity is never rewritten, it is only ended (revoked_at) once.

create table users (
  id text primary key,
  email text,
  name text,
  status text not null default 'active' check (status in ('active', 'suspended', 'closed')),
  billing_delinquent boolean not null default false,
  -- null: the deployment default (MDHUB_SESSION_LIMIT).
  session_limit int check (session_limit is null or session_limit > 0),
  created_at int8 not null
);

create table attestations (
  id int8 generated always as identity primary key,
  user_id text not null references users (id),
  status text not null check (status in ('professional', 'non_professional')),
  -- The questionnaire as JSON text: kept byte for byte as evidence (jsonb would re-print it).
  answers text,
  at int8 not null
);
create index attestations_user on attestations (user_id, at, id);

create table agreements (
  id int8 generated always as identity primary key,
  user_id text not null references users (id),
  licensor text not null,
  version text not null,
  accepted_at int8 not null,
  unique (user_id, licensor, version)
);

-- A grant is effective over [valid_from, least(valid_to, revoked_at)); null valid_to is open-ended.
create table grants (
  id int8 generated always as identity primary key,
  user_id text not null references users (id),
  product text not null,
  valid_from int8 not null,
  valid_to int8,
  created_at int8 not null,
  created_by text not null,
  revoked_at int8,
  revoked_by text,
  -- The grant that replaced this one (a later PUT), when that is why it ended.
  superseded_by int8 references grants (id),
  check (valid_to is null or valid_to > valid_from),
  check ((revoked_at is null) = (revoked_by is null))
);
create index grants_product_time on grants (product, valid_from);
create index grants_user_product on grants (user_id, product);

create table user_tokens (
  id text primary key,
  user_id text not null references users (id),
  -- SHA-256 of the token, hex; the token itself is shown once and never stored.
  token_hash text not null unique,
  device_id text,
  created_at int8 not null,
  revoked_at int8
);
create index user_tokens_user on user_tokens (user_id);

create table operators (
  id text primary key,
  role text not null check (role in ('admin', 'compliance', 'finance', 'support')),
  token_hash text not null unique,
  created_at int8 not null,
  revoked_at int8
);
