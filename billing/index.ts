/**
 * Billing: prices applied to the usage ledger, Stripe customers and meter events sent through an
 * outbox, Stripe webhooks flowing back into entitlements, and reconciliation for finance.
 * docs/billing.md describes the setup, the outbox states and the reconciliation.
 */
export {
  BILLING_ACTOR,
  type Billable,
  BillingError,
  billableUsage,
  type CloseOptions,
  type CloseResult,
  closeBillingMonth,
} from './close.js';
export { customerOf, ensureCustomer } from './customers.js';
export { applyDueHolds, type Hold, type HoldKind } from './holds.js';
export { chargeIdentifier, customerIdempotencyKey, MICROS_PER_UNIT } from './identifier.js';
export { type BillingMetrics, createBillingMetrics } from './metrics.js';
export { type BillingMonth, parseBillingMonth } from './month.js';
export { type DeadReason, OUTBOX_STATUSES, type OutboxStatus, outboxCounts } from './outbox.js';
export {
  applyPrice,
  type Charge,
  DEFAULT_PRICES_PATH,
  loadPrices,
  type Price,
  type PriceSchedule,
  type Prices,
  type ProductPricing,
  parsePrices,
  priceAt,
} from './prices.js';
export {
  type FailureKind,
  METER_EVENT_MAX_AGE_MS,
  type MeterEventInput,
  PaymentError,
  type PaymentProvider,
} from './provider.js';
export {
  type Mismatch,
  type MismatchReason,
  type ReconcileOptions,
  type Reconciliation,
  type ReconciliationRow,
  reconcile,
  reconciliationCsv,
  reconciliationJson,
} from './reconcile.js';
export { type ReconciliationRoutesDeps, reconciliationRouteDocs, reconciliationRoutes } from './routes.js';
export {
  classifyStripeError,
  createStripeClient,
  createStripeProvider,
  type StripeProviderOptions,
} from './stripe.js';
export {
  HANDLED_EVENTS,
  handleStripeEvent,
  parseStripeEvent,
  type StripeEvent,
  type WebhookOutcome,
  type WebhookResult,
} from './webhook.js';
export {
  SIGNATURE_TOLERANCE_S,
  type StripeWebhookDeps,
  stripeWebhookRoutes,
  webhookRouteDocs,
} from './webhook-routes.js';
export { BillingWorker, type BillingWorkerOptions, type PassResult } from './worker.js';
