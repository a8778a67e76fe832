/**
 * Entitlements: who may see what, now, and why. Users, categories, subscriber agreements,
 * real-time grants, user and operator tokens, the decision, the entitlement history (who could
 * receive a product in real time during a window), the change feed and the edge cache.
 * docs/entitlements.md describes the model and the admin API.
 */
export { type EnsureAdminOptions, type EnsureAdminResult, ensureAdminOperator } from './bootstrap.js';
export { type ChangeListener, EntitlementCache, type EntitlementCacheOptions } from './cache.js';
export {
  ATTESTATION_VALID_MONTHS,
  addUtcMonths,
  attestationExpiry,
  categoryAt,
  categoryForMonth,
  categoryWhileCounted,
  monthBounds,
} from './category.js';
export {
  ENTITLEMENTS_CHANGED,
  type EntitlementsChanged,
  isEntitlementsChanged,
  NO_CHANGES,
  type RecordedChanges,
  readChangeHead,
  recordChanges,
} from './changes.js';
export { type UserContact, userContacts } from './contacts.js';
export {
  agreementOnFile,
  type DecideOptions,
  type Decision,
  decide,
  grantCovers,
  type Mode,
  REASON_TEXT,
  REASONS,
  type Reason,
  reasonWords,
} from './decide.js';
export { deliveryRate, MAX_UPDATES_PER_SECOND } from './delivery-rate.js';
export { ConflictError, ForbiddenError, InvalidInputError, NotFoundError } from './errors.js';
export type { GrantRecord } from './grants.js';
export { type HistoryFacts, type Interval, openIntervals } from './history.js';
export {
  type AgreementEvidence,
  type AttestationEvidence,
  type CountedFor,
  categoriesForMonth,
  type EntitlementEvidence,
  entitlementEvidence,
  type GrantEvidence,
  type HistoryFilter,
  type RealtimeHistory,
  realtimeOpenIntervals,
} from './history-store.js';
export { operatorAuth, requirePermission, requireRole } from './http/auth.js';
export { entitlementRouteDocs } from './http/openapi.js';
export { BODY_LIMIT_BYTES, type EntitlementRoutesDeps, entitlementRoutes } from './http/routes.js';
export { authorize, can, PERMISSIONS, type Permission, rolesFor } from './permissions.js';
export { ChangeRelay, type ChangeRelayOptions, publishChanges } from './relay.js';
export {
  ACCOUNT_STATUSES,
  type AccountStatus,
  type AgreementFact,
  type AttestationFact,
  type GrantSpan,
  type ProductTerms,
  productTerms,
  type UserSnapshot,
} from './snapshot.js';
export { tokenUsagesDuring } from './token-history.js';
export { TOKEN_USAGES, type TokenUsage, USER_TOKEN_PREFIX } from './tokens.js';
export { nextTransition } from './transitions.js';
export { type AcceptAgreementInput, acceptAgreement } from './verbs/accept-agreement.js';
export { type AttestInput, attest } from './verbs/attest.js';
export type { CatalogContext, VerbOutcome } from './verbs/common.js';
export { type CreateOperatorInput, createOperator } from './verbs/create-operator.js';
export { type CreateUserInput, createUser } from './verbs/create-user.js';
export {
  type DeliveryRateChange,
  type SetDeliveryRateInput,
  setDeliveryRate,
} from './verbs/delivery-rate.js';
export { type GrantInput, grant } from './verbs/grant.js';
export { type IssueTokenInput, issueToken } from './verbs/issue-token.js';
export { type RevokeInput, revoke } from './verbs/revoke.js';
export { revokeOperator } from './verbs/revoke-operator.js';
export { type RevokeTokenInput, revokeToken } from './verbs/revoke-token.js';
export { type SetDelinquentInput, setDelinquent } from './verbs/set-delinquent.js';
export { type SetStatusInput, setStatus } from './verbs/set-status.js';
export { type Contact, type UpdateContactInput, updateContact } from './verbs/update-contact.js';
