import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

export type { Registry };

/**
 * The registry `/metrics` serves. Each hub owns one (never prom-client's global), so several hubs
 * in one test process do not collide; modules register their `mdhub_` metrics on it. The process
 * and Node.js metrics keep their standard names (`process_resident_memory_bytes`,
 * `nodejs_eventloop_lag_seconds`, …), the ones every Node.js dashboard and alert looks for.
 */
export function createMetricsRegistry(options: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}

/** What a scraped metric reads: one value, or one value per label value. */
export type ScrapedValue = number | Iterable<readonly [string, number]>;

/**
 * A counter read from plain fields when Prometheus scrapes: the hot path only adds to a number,
 * and prom-client is touched once per scrape, not once per message.
 */
export function scrapedCounter(
  registry: Registry,
  name: string,
  help: string,
  read: () => ScrapedValue,
  label?: string,
): void {
  new Counter({
    name,
    help,
    labelNames: label ? [label] : [],
    registers: [registry],
    collect() {
      this.reset();
      const value = read();
      if (typeof value === 'number') this.inc(value);
      else for (const [key, n] of value) this.inc({ [label as string]: key }, n);
    },
  });
}

/** A gauge read when Prometheus scrapes, like `scrapedCounter`. */
export function scrapedGauge(
  registry: Registry,
  name: string,
  help: string,
  read: () => ScrapedValue,
  label?: string,
): void {
  new Gauge({
    name,
    help,
    labelNames: label ? [label] : [],
    registers: [registry],
    collect() {
      this.reset();
      const value = read();
      if (typeof value === 'number') this.set(value);
      else for (const [key, n] of value) this.set({ [label as string]: key }, n);
    },
  });
}
