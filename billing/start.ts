import type { Env } from '../config/index.js';
import type { ChangeRelay } from '../entitlements/index.js';
import type { HubContext, RunningRole } from '../platform/hub.js';
import { createBillingMetrics } from './metrics.js';
import { loadPrices } from './prices.js';
import type { PaymentProvider } from './provider.js';
import { createStripeProvider } from './stripe.js';
import { BillingWorker } from './worker.js';

/** Stripe when `STRIPE_SECRET_KEY` is set (at `STRIPE_API_URL` if given); otherwise none. */
export function paymentProviderFromEnv(env: Env): PaymentProvider | undefined {
  if (!env.STRIPE_SECRET_KEY) return undefined;
  return createStripeProvider({ secretKey: env.STRIPE_SECRET_KEY, apiUrl: env.STRIPE_API_URL });
}

/**
 * The billing worker, for the `api` role. Without Stripe configured it still closes months into
 * the outbox, so nothing is lost before Stripe is set up (within Stripe's 35-day window).
 * `changes` is the role's change relay, flushed when billing holds change a user's delinquency.
 */
export async function startBillingWorker(ctx: HubContext, changes?: ChangeRelay): Promise<RunningRole> {
  const provider = paymentProviderFromEnv(ctx.env);
  if (!provider) ctx.logger.warn('STRIPE_SECRET_KEY is not set: billing charges are queued, not sent');
  const worker = new BillingWorker({
    db: ctx.db,
    bus: ctx.bus,
    changes,
    catalog: ctx.catalog,
    prices: loadPrices(ctx.catalog, ctx.env.MDHUB_PRICES),
    provider,
    metrics: createBillingMetrics(ctx.metrics),
    logger: ctx.logger,
  });
  worker.start();
  return { stop: () => worker.stop() };
}
