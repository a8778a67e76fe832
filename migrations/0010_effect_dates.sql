-- Corrections with effect dates (DESIGN rule 3): an attestation recorded late, a grant or a
-- revocation backdated to when it really happened. The report and billing read the effect dates;
-- the entry times stay, and the audit log records who entered each correction, when and why.
--
-- attestations: `at` stays the entry time; `effective_from` is when the status took effect, set
-- for a late-recorded attestation and null for one that took effect when it was recorded.
alter table attestations add column effective_from int8;
alter table attestations add constraint attestations_effective_from_check
  check (effective_from is null or effective_from <= at);

-- grants: `valid_from` and `revoked_at` are the effect dates and `created_at` the grant's entry
-- time; `revocation_entered_at` is when a backdated revocation was entered, null when the
-- revocation was entered at the instant it took effect.
alter table grants add column revocation_entered_at int8;
alter table grants add constraint grants_revocation_entered_at_check
  check (revocation_entered_at is null or (revoked_at is not null and revocation_entered_at >= revoked_at));
