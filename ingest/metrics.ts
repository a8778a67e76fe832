/**
 * The ingest role's Prometheus metrics. Counters are read from plain fields at scrape time
 * (`collect`), so the hot path never touches prom-client; only the two histograms are observed
 * directly, once per published batch.
 */
import { Gauge, Histogram } from 'prom-client';
import { type Registry, scrapedCounter } from '../platform/metrics.js';
import { EVENT_TYPES } from './event.js';
import { FEED_STATES, type FeedState } from './feed.js';
import { MALFORMED_REASONS, type Normalizer } from './normalize.js';
import { DROP_REASONS, type IngestStats } from './stats.js';

export interface IngestMetricSources {
  stats: IngestStats;
  normalizer: Normalizer;
  feedState: () => FeedState;
  /** Whether this process holds the feed lease (always, for the in-process bus). */
  leader: () => boolean;
  /** Times this process took the feed lease. */
  elections: () => number;
}

export interface IngestHistograms {
  /** Batch formed → bus acknowledged, seconds. */
  publishSeconds: Histogram;
  /** Vendor time of a batch's oldest event → bus acknowledged, seconds. */
  lagSeconds: Histogram;
  /** Feed lease taken → the term's first batch acknowledged by the bus, seconds. */
  takeoverSeconds: Histogram;
}

const entries = <K extends string>(keys: readonly K[], values: Record<K, number>) =>
  keys.map((key) => [key, values[key]] as const);

/** Counters and gauges, read from `sources` at scrape time. */
export function registerIngestMetrics(registry: Registry, sources: IngestMetricSources): void {
  const { stats, normalizer } = sources;
  scrapedCounter(registry, 'mdhub_ingest_frames_total', 'Vendor frames received', () => normalizer.frames);
  scrapedCounter(
    registry,
    'mdhub_ingest_events_received_total',
    'Valid vendor events received, by type',
    () => entries(EVENT_TYPES, normalizer.received),
    'type',
  );
  scrapedCounter(
    registry,
    'mdhub_ingest_events_published_total',
    'Events acknowledged by the bus, by type',
    () => entries(EVENT_TYPES, stats.published),
    'type',
  );
  scrapedCounter(
    registry,
    'mdhub_ingest_malformed_total',
    'Vendor frames or elements skipped as malformed, by reason',
    () => entries(MALFORMED_REASONS, normalizer.malformed),
    'reason',
  );
  scrapedCounter(
    registry,
    'mdhub_ingest_events_dropped_total',
    'Valid events not published, by reason',
    () => entries(DROP_REASONS, stats.dropped),
    'reason',
  );
  scrapedCounter(
    registry,
    'mdhub_ingest_batches_total',
    'Tick stream entries published',
    () => stats.batches,
  );
  scrapedCounter(
    registry,
    'mdhub_ingest_publish_errors_total',
    'Bus publishes that failed',
    () => stats.publishErrors,
  );
  scrapedCounter(registry, 'mdhub_ingest_reconnects_total', 'Vendor reconnections', () => stats.reconnects);
  scrapedCounter(
    registry,
    'mdhub_ingest_max_connections_total',
    'max_connections statuses from the vendor (another connection took over)',
    () => stats.maxConnections,
  );
  scrapedCounter(
    registry,
    'mdhub_ingest_last_value_writes_total',
    'Last-value cache writes to the bus',
    () => stats.lastValueWrites,
  );
  new Gauge({
    name: 'mdhub_ingest_feed_state',
    help: 'Vendor feed state: 1 for the current state, 0 for the others',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const current = sources.feedState();
      for (const state of FEED_STATES) this.set({ state }, state === current ? 1 : 0);
    },
  });
  scrapedCounter(
    registry,
    'mdhub_ingest_elections_total',
    'Times this process took the feed lease and started the feed',
    sources.elections,
  );
  new Gauge({
    name: 'mdhub_ingest_leader',
    help: 'Whether this process holds the feed lease (1) or stands by (0)',
    registers: [registry],
    collect() {
      this.set(sources.leader() ? 1 : 0);
    },
  });
}

/** The histograms: two the publisher observes once per published batch, one per lease term. */
export function createIngestHistograms(registry: Registry): IngestHistograms {
  return {
    publishSeconds: new Histogram({
      name: 'mdhub_ingest_publish_seconds',
      help: 'Batch formed to bus acknowledgement',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    lagSeconds: new Histogram({
      name: 'mdhub_ingest_bus_lag_seconds',
      help: 'Vendor time of the oldest event in a batch to bus acknowledgement',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    takeoverSeconds: new Histogram({
      name: 'mdhub_ingest_takeover_seconds',
      help: 'Feed lease taken to the first batch of the term acknowledged by the bus (vendor auth, subscribe, first frame, publish)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
  };
}
