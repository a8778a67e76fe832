/**
 * The payment provider as billing needs it: customers, meter events and what the provider has
 * aggregated. Stripe (`stripe.ts`) is the real one; tests point it at a local Stripe-protocol server.
 */
export interface PaymentProvider {
  /** Creates the customer of a user; the same key always yields the same customer while the provider remembers it. */
  createCustomer(input: { userId: string; idempotencyKey: string }): Promise<string>;
  /** Records one meter event; throws a `PaymentError` saying whether and when to try again. */
  sendMeterEvent(input: MeterEventInput): Promise<void>;
  /** The provider's aggregate of a meter for a customer over [start, end), epoch ms on minute boundaries. */
  meterTotal(input: { eventName: string; customerId: string; start: number; end: number }): Promise<number>;
}

export interface MeterEventInput {
  eventName: string;
  customerId: string;
  /** Meter units, a positive whole number. */
  value: number;
  /** Both the event's identifier and the request's Idempotency-Key. */
  identifier: string;
  /** Epoch ms; the provider refuses events older than `METER_EVENT_MAX_AGE_MS`. */
  timestamp: number;
}

/** Stripe refuses meter events whose timestamp is more than 35 calendar days old. */
export const METER_EVENT_MAX_AGE_MS = 35 * 86_400_000;

/**
 * How a failed call ended, which decides what the outbox does next:
 * - `retry`: refused before doing anything (rate limit, bad credentials); try again later;
 * - `uncertain`: may have been applied (server error, lost connection); only resend while the
 *   provider still deduplicates the identifier;
 * - `too_old`: the event's timestamp is outside the provider's window; never accepted;
 * - `rejected`: refused for good (unknown customer, invalid request).
 */
export type FailureKind = 'retry' | 'uncertain' | 'too_old' | 'rejected';

export class PaymentError extends Error {
  override name = 'PaymentError';

  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}
