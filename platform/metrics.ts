import { collectDefaultMetrics, Registry } from 'prom-client';

export type { Registry };

/**
 * The registry `/metrics` serves. Each hub owns one (never prom-client's global), so several hubs
 * in one test process do not collide; modules register their `mdhub_` metrics on it.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'mdhub_' });
  return registry;
}
