/**
 * Plain counters the ingest hot path bumps (a field increment costs nothing measurable); the
 * Prometheus metrics read them only when scraped (ingest/metrics.ts).
 */
import type { EventType } from './event.js';

/**
 * Why published events were thrown away instead of reaching the bus:
 * - `not_leader`: this process lost (or never confirmed) the feed lease before the batch went out
 * - `backpressure`: the bus fell so far behind that the pending-bytes bound was reached
 * - `bus_error`: the bus refused the batch (market data is perishable: it is not retried)
 */
export const DROP_REASONS = ['not_leader', 'backpressure', 'bus_error'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export class IngestStats {
  readonly published: Record<EventType, number> = { T: 0, Q: 0, A: 0, AM: 0, LULD: 0 };
  readonly dropped: Record<DropReason, number> = { not_leader: 0, backpressure: 0, bus_error: 0 };
  /** Stream entries written. */
  batches = 0;
  publishErrors = 0;
  /** Vendor connections opened after the first (any drop, stale socket or takeover). */
  reconnects = 0;
  /** `max_connections` statuses: another connection with our key took over. */
  maxConnections = 0;
  /** Last-value cache writes (one HSET per event type per flush). */
  lastValueWrites = 0;
}
