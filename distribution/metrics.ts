/**
 * The edge's Prometheus metrics (`mdhub_edge_*`). Counters are plain fields bumped on the hot
 * path and read at scrape time; only the fan-out latency histogram is observed directly, once per
 * real-time frame.
 */
import { Histogram } from 'prom-client';
import { type Registry, scrapedCounter, scrapedGauge } from '../platform/metrics.js';

export class EdgeStats {
  framesSent = 0;
  bytesSent = 0;
  /** Sockets that went from sending to conflating. */
  conflations = 0;
  slowConsumerCloses = 0;
  /** Sockets terminated for leaving a ping unanswered until the next one. */
  keepaliveTerminations = 0;
  /** Sessions replaced by a newer connection of the same device (takeover.ts). */
  takeovers = 0;
  /**
   * Real-time frames held back at the send because the session's real time had ended before the
   * timer that ends it fired: the last guard against a leak caught one.
   */
  realtimeWithheld = 0;
  /**
   * Updates a delivery rate kept from a session: a newer one of the same type and symbol took
   * their place within the interval (delivery-rate.ts).
   */
  conflatedEvents = 0;
  /** Tick batches that could not be decoded (skipped). */
  malformedBatches = 0;
  /** Why a subscription did not get real time, or a request was refused, by reason. */
  readonly refusals = new Map<string, number>();
  /** Snapshots asked for on subscribe, by outcome: `realtime` or `delayed` (sent), `none`, `unsupported`. */
  readonly snapshots = new Map<string, number>();

  refuse(reason: string): void {
    this.refusals.set(reason, (this.refusals.get(reason) ?? 0) + 1);
  }

  snapshot(outcome: string): void {
    this.snapshots.set(outcome, (this.snapshots.get(outcome) ?? 0) + 1);
  }
}

export interface EdgeGauges {
  connections(): number;
  /** Subscriptions (session × channel) by mode. */
  subscriptionsByMode(): Iterable<readonly [string, number]>;
  delayLine(): { bytes: number; entries: number; dropped: number };
  spoolSize(): number;
  /** Bytes queued to client sockets and not yet taken by the kernel, closing sockets included. */
  queuedBytes(): number;
  spoolFileBytes(): number;
}

/** Registers the edge metrics; returns the latency histogram the fan-out observes. */
export function registerEdgeMetrics(registry: Registry, stats: EdgeStats, gauges: EdgeGauges): Histogram {
  scrapedGauge(registry, 'mdhub_edge_connections', 'Open client WebSocket connections', gauges.connections);
  scrapedGauge(
    registry,
    'mdhub_edge_client_queued_bytes',
    'Bytes queued to client sockets, not yet taken by the kernel (closing sockets included)',
    gauges.queuedBytes,
  );
  scrapedGauge(
    registry,
    'mdhub_edge_subscriptions',
    'Client subscriptions (connection × channel) by mode',
    gauges.subscriptionsByMode,
    'mode',
  );
  scrapedCounter(
    registry,
    'mdhub_edge_frames_sent_total',
    'Data frames sent to clients',
    () => stats.framesSent,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_bytes_sent_total',
    'Data frame bytes sent to clients',
    () => stats.bytesSent,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_conflations_total',
    'Times a slow socket switched to conflated updates',
    () => stats.conflations,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_conflated_events_total',
    'Updates not delivered to a session with a delivery rate because a newer one of the same symbol took their place',
    () => stats.conflatedEvents,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_slow_consumer_closes_total',
    'Sockets closed as slow clients (407)',
    () => stats.slowConsumerCloses,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_keepalive_terminations_total',
    'Sockets terminated for not answering a ping before the next one',
    () => stats.keepaliveTerminations,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_session_takeovers_total',
    'Sessions that stopped answering pings, replaced by a newer connection of the same device',
    () => stats.takeovers,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_realtime_withheld_total',
    "Real-time frames held back at the send because the session's real time had ended before its timer fired",
    () => stats.realtimeWithheld,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_refusals_total',
    'Subscriptions without real time and refused requests, by reason',
    () => stats.refusals,
    'reason',
  );
  scrapedCounter(
    registry,
    'mdhub_edge_subscribe_snapshots_total',
    'Snapshots asked for on subscribe, by outcome (realtime or delayed: sent; none; unsupported)',
    () => stats.snapshots,
    'outcome',
  );
  scrapedCounter(
    registry,
    'mdhub_edge_malformed_batches_total',
    'Tick batches skipped because they could not be decoded',
    () => stats.malformedBatches,
  );
  scrapedGauge(
    registry,
    'mdhub_edge_delay_line_bytes',
    'Bytes held by the delay line',
    () => gauges.delayLine().bytes,
  );
  scrapedGauge(
    registry,
    'mdhub_edge_delay_line_entries',
    'Events held by the delay line',
    () => gauges.delayLine().entries,
  );
  scrapedCounter(
    registry,
    'mdhub_edge_delay_line_dropped_total',
    'Events the delay line could not hold because its memory bound was reached',
    () => gauges.delayLine().dropped,
  );
  scrapedGauge(
    registry,
    'mdhub_edge_usage_spool_events',
    'Usage events waiting to reach the bus',
    gauges.spoolSize,
  );
  scrapedGauge(
    registry,
    'mdhub_edge_usage_spool_file_bytes',
    'Bytes in the usage spool file (events kept on disk until the bus stored them)',
    gauges.spoolFileBytes,
  );
  return new Histogram({
    name: 'mdhub_edge_fanout_latency_seconds',
    help: 'Vendor time of the oldest event in a real-time frame to the frame being sent',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
}
