-- Licensor files and non-display use (docs/usage-reports.md "Licensor files" and "Non-display
-- use", docs/entitlements.md "Tokens").

-- The postal address a licensor's detailed usage report names each subscriber by, as the operator
-- entered it (free text); null until known.
alter table users add column address text;

-- What a token is issued for: a person viewing a display, or an application using the data without
-- one (non-display). Every token issued before this column existed was issued for a person.
alter table user_tokens add column usage text not null default 'display'
  check (usage in ('display', 'non_display'));

-- The ledger keeps display and non-display use of one (user, device, product, day) apart: they are
-- reported under different categories. Rows written before are display use.
alter table usage_daily add column usage text not null default 'display'
  check (usage in ('display', 'non_display'));
alter table usage_daily drop constraint usage_daily_pkey;
alter table usage_daily add primary key (product, day, user_id, device_id, usage);

-- A user with display and non-display use of one product counts in two categories that month.
alter table usage_monthly drop constraint usage_monthly_category_check;
alter table usage_monthly add constraint usage_monthly_category_check
  check (category in ('professional', 'non_professional', 'non_display'));
alter table usage_monthly drop constraint usage_monthly_pkey;
alter table usage_monthly add primary key (month, product, user_id, category);
