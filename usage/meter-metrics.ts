import { Counter, Gauge, type Registry } from 'prom-client';

/** The meter's `mdhub_meter_*` metrics; several meters in one process share them. */
export interface MeterMetrics {
  events: Counter<'kind'>;
  duplicates: Counter;
  late: Counter;
  deadLetters: Counter;
  batches: Counter;
  batchFailures: Counter;
  claimed: Counter;
  lag: Gauge;
  retryDelay: Gauge;
}

function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

export function meterMetrics(registry: Registry): MeterMetrics {
  const registers = [registry];
  return {
    events: once(
      registry,
      'mdhub_meter_events_total',
      () =>
        new Counter({
          name: 'mdhub_meter_events_total',
          help: 'Usage events counted into the ledger, by kind (duplicates excluded)',
          labelNames: ['kind'] as const,
          registers,
        }),
    ),
    duplicates: once(
      registry,
      'mdhub_meter_duplicates_total',
      () =>
        new Counter({
          name: 'mdhub_meter_duplicates_total',
          help: 'Usage events seen again (redelivered, replayed or duplicated) and not counted twice',
          registers,
        }),
    ),
    late: once(
      registry,
      'mdhub_meter_late_total',
      () =>
        new Counter({
          name: 'mdhub_meter_late_total',
          help: 'Usage events counted after their month was filed, kept in usage_late',
          registers,
        }),
    ),
    deadLetters: once(
      registry,
      'mdhub_meter_dead_letters_total',
      () =>
        new Counter({
          name: 'mdhub_meter_dead_letters_total',
          help: 'Bus entries that were not valid usage events, kept in usage_dead_letters',
          registers,
        }),
    ),
    batches: once(
      registry,
      'mdhub_meter_batches_total',
      () => new Counter({ name: 'mdhub_meter_batches_total', help: 'Ledger batches committed', registers }),
    ),
    batchFailures: once(
      registry,
      'mdhub_meter_batch_failures_total',
      () =>
        new Counter({
          name: 'mdhub_meter_batch_failures_total',
          help: 'Ledger batch transactions that failed and were retried',
          registers,
        }),
    ),
    claimed: once(
      registry,
      'mdhub_meter_claimed_total',
      () =>
        new Counter({
          name: 'mdhub_meter_claimed_total',
          help: 'Usage events taken over from a meter that stopped before acknowledging them',
          registers,
        }),
    ),
    lag: once(
      registry,
      'mdhub_meter_lag_seconds',
      () =>
        new Gauge({
          name: 'mdhub_meter_lag_seconds',
          help: 'Age of the oldest entry of the last committed batch, from when it was added to the bus',
          registers,
        }),
    ),
    retryDelay: once(
      registry,
      'mdhub_meter_retry_delay_seconds',
      () =>
        new Gauge({
          name: 'mdhub_meter_retry_delay_seconds',
          help: 'The pause before the meter retries a failed read or commit (0 while they succeed); grows while the database or bus stays down',
          registers,
        }),
    ),
  };
}
