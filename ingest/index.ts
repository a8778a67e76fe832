/**
 * Ingest: the vendor feed, once, onto the bus. The module's only entry point.
 *
 * `startIngest` runs the Polygon feed when POLYGON_API_KEY is set, the synthetic market otherwise.
 * On Redis (scaled mode) any number of ingest processes may run: they elect one leader through a
 * bus lease, and only the leader opens the vendor connection and publishes; the in-process bus
 * (embedded default) has one process by definition and needs no lease.
 *
 * For the edge: tick-stream payloads decode with `decodeBatch` / `BatchCursor` (ingest/codec.ts
 * documents the format); last values read with `readLastValue`.
 */
import type { Catalog, Env } from '../config/index.js';
import type { Bus } from '../platform/bus/index.js';
import type { HealthChecks } from '../platform/health.js';
import type { RoleStarter, RunningRole } from '../platform/hub.js';
import type { Logger } from '../platform/logger.js';
import type { Registry } from '../platform/metrics.js';
import type { Feed, FeedState } from './feed.js';
import { LeaderLease, type LeaderLeaseOptions } from './leader.js';
import { createIngestHistograms, registerIngestMetrics } from './metrics.js';
import { IngestPipeline, type PipelineOptions } from './pipeline.js';
import { PolygonFeed, type PolygonFeedOptions } from './polygon.js';
import { IngestStats } from './stats.js';
import { SyntheticFeed, SyntheticMarket } from './synthetic.js';

export {
  BatchCursor,
  type BatchVisitor,
  BatchWriter,
  decodeBatch,
  encodeBatch,
  type TapedEvent,
} from './codec.js';
export type { Aggregate, EventType, MarketEvent, Quote, Tape, Trade } from './event.js';
export { EVENT_TYPES, vendorTime } from './event.js';
export { FEED_STATES, type FeedState } from './feed.js';
export { serializeEvent } from './json.js';
export { type LastValueType, lastValueKey, readLastValue, readLastValues } from './last-value.js';
export { MALFORMED_REASONS, type MalformedReason } from './normalize.js';
export { DROP_REASONS, type DropReason } from './stats.js';

/** How long stop() waits for the bus to take what is pending before giving it up. */
const DRAIN_LIMIT_MS = 2_000;

export interface IngestOptions {
  bus: Bus;
  env: Pick<
    Env,
    | 'POLYGON_API_KEY'
    | 'POLYGON_WS_URL'
    | 'POLYGON_SUBSCRIPTIONS'
    | 'MDHUB_SYNTHETIC_RATE'
    | 'MDHUB_SYNTHETIC_SYMBOLS'
  > &
    Partial<Pick<Env, 'MDHUB_MAX_CLOCK_SKEW_MS'>>;
  catalog: Catalog;
  logger: Logger;
  metrics?: Registry;
  health?: HealthChecks;
  /** Elect a leader through the bus lease (default: on Redis only). */
  leaderElection?: boolean;
  /** Lease timing (tests). */
  lease?: Pick<LeaderLeaseOptions, 'ttlMs' | 'renewMs' | 'pollMs'>;
  /** Vendor connection tuning (tests). */
  polygon?: Pick<
    PolygonFeedOptions,
    | 'staleMs'
    | 'staleReconnectMs'
    | 'connectTimeoutMs'
    | 'backoffBaseMs'
    | 'backoffMaxMs'
    | 'maxConnectionsBackoffMs'
    | 'stableMs'
  >;
  /** The ingest clock that vendor times are bounded against (tests); default `Date.now`. */
  now?: () => number;
  /** Synthetic market seed (tests); default: random. */
  seed?: number;
  publisher?: PipelineOptions['publisher'];
  lastValueIntervalMs?: number;
}

export interface Ingest extends RunningRole {
  readonly source: 'polygon' | 'synthetic';
  readonly feedState: FeedState;
  readonly feedDetail: string;
  /** Whether this process runs the feed (always true without leader election). */
  readonly leading: boolean;
  readonly stats: IngestStats;
  readonly pipeline: IngestPipeline;
}

export async function createIngest(options: IngestOptions): Promise<Ingest> {
  const { bus, env, catalog, logger } = options;
  const stats = new IngestStats();
  const source = env.POLYGON_API_KEY === undefined ? 'synthetic' : 'polygon';
  const elect = options.leaderElection ?? bus.kind === 'redis';
  let feed: Feed | undefined;
  let stopping = false;
  let lease: LeaderLease | undefined;
  const mayPublish = () => lease === undefined || lease.holds();

  const histograms = options.metrics ? createIngestHistograms(options.metrics) : undefined;
  const pipeline = new IngestPipeline({
    bus,
    tapes: [...catalog.products.values()].map((product) => product.tape),
    aggregates: source === 'polygon' && /(^|,)AM?\./.test(env.POLYGON_SUBSCRIPTIONS),
    stats,
    logger,
    histograms,
    mayPublish,
    onStatus: (status, message) => feed?.status(status, message),
    publisher: options.publisher,
    lastValueIntervalMs: options.lastValueIntervalMs,
    maxClockSkewMs: env.MDHUB_MAX_CLOCK_SKEW_MS,
    now: options.now,
  });
  if (options.metrics) {
    registerIngestMetrics(options.metrics, {
      stats,
      normalizer: pipeline.normalizer,
      feedState: () => feed?.state ?? 'idle',
      leader: () => lease === undefined || lease.leading,
    });
  }
  const market =
    source === 'synthetic'
      ? new SyntheticMarket({ symbols: env.MDHUB_SYNTHETIC_SYMBOLS, seed: options.seed })
      : undefined;

  const newFeed = (): Feed => {
    if (market !== undefined) {
      return new SyntheticFeed({ market, rate: env.MDHUB_SYNTHETIC_RATE, onFrame: pipeline.frame });
    }
    return new PolygonFeed({
      apiKey: env.POLYGON_API_KEY as string,
      url: env.POLYGON_WS_URL,
      subscriptions: env.POLYGON_SUBSCRIPTIONS,
      onFrame: pipeline.frame,
      onOversized: () => pipeline.normalizer.count('oversized'),
      stats,
      logger,
      ...options.polygon,
    });
  };
  const run = () => {
    if (stopping || feed !== undefined) return;
    feed = newFeed();
    pipeline.lastValues.start();
    feed.start();
  };
  const standDown = () => {
    const current = feed;
    feed = undefined;
    pipeline.publisher.discard();
    pipeline.lastValues.discard();
    void current?.stop();
  };

  if (elect) {
    lease = new LeaderLease({
      leases: bus.leases,
      name: `ingest:${source}`,
      logger,
      onElected: run,
      onDeposed: standDown,
      ...options.lease,
    });
    lease.start();
  } else {
    run();
  }
  logger.info({ source, leaderElection: elect }, 'ingest started');

  options.health?.add('feed', () => {
    if (lease !== undefined && !lease.leading) {
      return { ok: true, detail: `standby: another process holds the ${source} feed lease` };
    }
    const state = feed?.state ?? 'idle';
    const detail = `${state}: ${feed?.detail ?? 'not running'}`;
    return state === 'connected' ? { ok: true, detail } : { ok: false, detail };
  });

  return {
    source,
    get feedState() {
      return feed?.state ?? 'idle';
    },
    get feedDetail() {
      return feed?.detail ?? 'not running';
    },
    get leading() {
      return lease === undefined || lease.leading;
    },
    stats,
    pipeline,
    async stop() {
      stopping = true;
      // The vendor socket closes before the lease is released, so a standby taking over never
      // overlaps with it; what was read before the close still goes out under the lease.
      await feed?.stop();
      feed = undefined;
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, DRAIN_LIMIT_MS);
      });
      await Promise.race([Promise.all([pipeline.publisher.drain(), pipeline.lastValues.stop()]), limit]);
      clearTimeout(timer);
      await lease?.stop();
      logger.info({ source }, 'ingest stopped');
    },
  };
}

/** The `ingest` role. */
export const startIngest: RoleStarter = (ctx) =>
  createIngest({
    bus: ctx.bus,
    env: ctx.env,
    catalog: ctx.catalog,
    logger: ctx.logger.child({ role: 'ingest' }),
    metrics: ctx.metrics,
    health: ctx.health,
  });
