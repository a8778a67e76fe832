import Stripe from 'stripe';
import { type FailureKind, type MeterEventInput, PaymentError, type PaymentProvider } from './provider.js';

export interface StripeProviderOptions {
  /** `STRIPE_SECRET_KEY`; never logged. */
  secretKey: string;
  /** `STRIPE_API_URL`: another API host (a local server in tests); default Stripe's own. */
  apiUrl?: string;
  /** Per-request timeout, ms (default 20 000). */
  timeoutMs?: number;
}

/** The client, pointed at `apiUrl` when given. Retries are the outbox's job, so the client makes none. */
export function createStripeClient(options: StripeProviderOptions): Stripe {
  const config: ConstructorParameters<typeof Stripe>[1] = {
    maxNetworkRetries: 0,
    timeout: options.timeoutMs ?? 20_000,
    telemetry: false,
  };
  if (options.apiUrl) {
    const url = new URL(options.apiUrl);
    const protocol = url.protocol === 'http:' ? 'http' : 'https';
    config.host = url.hostname;
    config.protocol = protocol;
    config.port = url.port || (protocol === 'http' ? 80 : 443);
  }
  return new Stripe(options.secretKey, config);
}

interface StripeFailure {
  statusCode?: number;
  code?: string;
  param?: string;
  type?: string;
  message?: string;
}

/** Sorts a Stripe client error into what the outbox should do about it. */
export function classifyStripeError(error: unknown): PaymentError {
  if (!(error instanceof Stripe.errors.StripeError)) {
    return new PaymentError('uncertain', `unexpected error: ${(error as Error).message ?? String(error)}`);
  }
  const { statusCode, code, param, type, message } = error as StripeFailure;
  let kind: FailureKind;
  if (error instanceof Stripe.errors.StripeConnectionError) kind = 'uncertain';
  else if (statusCode === undefined || statusCode >= 500 || statusCode === 409) kind = 'uncertain';
  else if (statusCode === 429 || statusCode === 401 || statusCode === 403) kind = 'retry';
  else if (param === 'timestamp') kind = 'too_old';
  else kind = 'rejected';
  return new PaymentError(kind, message ?? type ?? 'Stripe error', statusCode, code ?? type);
}

/** The real provider: Stripe Billing Meters, one meter per product, found by its event name. */
export function createStripeProvider(options: StripeProviderOptions): PaymentProvider {
  const stripe = createStripeClient(options);
  const meterIds = new Map<string, string>();

  async function meterId(eventName: string): Promise<string> {
    const known = meterIds.get(eventName);
    if (known) return known;
    for await (const meter of stripe.billing.meters.list({ limit: 100 })) {
      meterIds.set(meter.event_name, meter.id);
    }
    const found = meterIds.get(eventName);
    if (!found) throw new PaymentError('rejected', `Stripe has no meter with event_name ${eventName}`);
    return found;
  }

  return {
    async createCustomer({ userId, idempotencyKey }) {
      try {
        const customer = await stripe.customers.create(
          { metadata: { mdhub_user_id: userId } },
          { idempotencyKey },
        );
        return customer.id;
      } catch (error) {
        throw classifyStripeError(error);
      }
    },

    async sendMeterEvent(input: MeterEventInput) {
      try {
        await stripe.billing.meterEvents.create(
          {
            event_name: input.eventName,
            payload: { stripe_customer_id: input.customerId, value: String(input.value) },
            identifier: input.identifier,
            timestamp: Math.floor(input.timestamp / 1000),
          },
          { idempotencyKey: input.identifier },
        );
      } catch (error) {
        throw classifyStripeError(error);
      }
    },

    async meterTotal({ eventName, customerId, start, end }) {
      const id = await meterId(eventName);
      let total = 0;
      try {
        for await (const summary of stripe.billing.meters.listEventSummaries(id, {
          customer: customerId,
          start_time: Math.floor(start / 1000),
          end_time: Math.floor(end / 1000),
        })) {
          total += summary.aggregated_value;
        }
      } catch (error) {
        throw classifyStripeError(error);
      }
      return total;
    },
  };
}
