import { Counter, Gauge, type Registry } from 'prom-client';

/** What billing counts, for `/metrics`: dead charges are the ones a person must look at. */
export interface BillingMetrics {
  /** Meter-event attempts by outcome: `sent`, `retry`, `uncertain`, `dead`. */
  attempts: Counter<'outcome'>;
  /** Charges that will never be sent, by reason (`too_old`, `rejected`, `uncertain`). */
  dead: Counter<'reason'>;
  /** Outbox rows by status, as of the worker's last pass. */
  outbox: Gauge<'status'>;
  /** Stripe webhook deliveries by event type and outcome. */
  webhooks: Counter<'type' | 'outcome'>;
}

const byRegistry = new WeakMap<Registry, BillingMetrics>();

/**
 * Billing's metrics on `registry`, created once per registry so the worker and the webhook routes,
 * started separately, count into the same series. Without a registry they count privately (tests).
 */
export function createBillingMetrics(registry?: Registry): BillingMetrics {
  const existing = registry && byRegistry.get(registry);
  if (existing) return existing;
  const registers = registry ? [registry] : [];
  const metrics: BillingMetrics = {
    attempts: new Counter({
      name: 'mdhub_billing_meter_event_attempts_total',
      help: 'Stripe meter-event attempts by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    dead: new Counter({
      name: 'mdhub_billing_dead_charges_total',
      help: 'Charges the outbox gave up on, by reason; each needs a person',
      labelNames: ['reason'],
      registers,
    }),
    outbox: new Gauge({
      name: 'mdhub_billing_outbox_rows',
      help: 'Billing outbox rows by status',
      labelNames: ['status'],
      registers,
    }),
    webhooks: new Counter({
      name: 'mdhub_billing_webhooks_total',
      help: 'Stripe webhook deliveries by event type and outcome',
      labelNames: ['type', 'outcome'],
      registers,
    }),
  };
  if (registry) byRegistry.set(registry, metrics);
  return metrics;
}
