/**
 * The ingest process: the vendor feed, once, onto the bus.
 *
 * `createIngest` runs Polygon's feed when `polygon` is given, the synthetic market otherwise. On
 * Redis (scaled mode) any number of ingest processes may run: they elect one leader through a
 * bus lease, and only the leader authenticates to the vendor and publishes; the in-process bus
 * (embedded default) has one process by definition and needs no lease. A standby keeps its Polygon
 * socket open but unauthenticated (Polygon counts authenticated connections only), so the moment
 * it takes the lease it sends auth and subscribe on it.
 */
import type { Catalog } from '../config/index.js';
import type { Bus } from '../platform/bus/index.js';
import type { HealthChecks } from '../platform/health.js';
import type { Logger } from '../platform/logger.js';
import type { Registry } from '../platform/metrics.js';
import type { Feed, FeedState } from './feed.js';
import { LeaderLease, type LeaderLeaseOptions } from './leader.js';
import { createIngestHistograms, registerIngestMetrics } from './metrics.js';
import { IngestPipeline, type PipelineOptions } from './pipeline.js';
import { PolygonFeed, type PolygonFeedOptions } from './polygon.js';
import { writeSyntheticTickers } from './reference.js';
import { IngestStats } from './stats.js';
import { SyntheticFeed, SyntheticMarket } from './synthetic.js';

/** How long stop() waits for the bus to take what is pending before giving it up. */
const DRAIN_LIMIT_MS = 2_000;

export const DEFAULT_SYNTHETIC_SYMBOLS = 300;
export const DEFAULT_SYNTHETIC_RATE = 2_000;

export interface SyntheticOptions {
  /** Symbols, spread over the three tapes (default 300). */
  symbols?: number;
  /** Events per second over all symbols (default 2 000). */
  rate?: number;
  /** Seed of the market (default a fixed one: the same market on every start). */
  seed?: number;
}

export interface IngestOptions {
  bus: Bus;
  catalog: Catalog;
  logger: Logger;
  metrics?: Registry;
  health?: HealthChecks;
  /** Elect a leader through the bus lease (default: on Redis only). */
  leaderElection?: boolean;
  /**
   * Lease timing: TTL (default 750 ms), renewal (default a third of it) and the standby's tries
   * (default a sixth), so a dead leader is replaced within about one TTL.
   */
  lease?: Pick<LeaderLeaseOptions, 'ttlMs' | 'renewMs' | 'pollMs'>;
  /**
   * Polygon's stocks feed: the API key, the base URL and the subscriptions, with connection tuning
   * (tests). Absent: the synthetic market.
   */
  polygon?: Omit<PolygonFeedOptions, 'onFrame' | 'onOversized' | 'stats' | 'logger'>;
  /** The synthetic market, when there is no `polygon`. */
  synthetic?: SyntheticOptions;
  /** Vendor times further than this ahead of the ingest clock are dropped (default 5 000 ms). */
  maxClockSkewMs?: number;
  /** The ingest clock that vendor times are bounded against (tests); default `Date.now`. */
  now?: () => number;
  publisher?: PipelineOptions['publisher'];
  lastValueIntervalMs?: number;
  /** Bar store write interval (default 1 000 ms). */
  barStoreIntervalMs?: number;
}

export interface Ingest {
  readonly source: 'polygon' | 'synthetic';
  readonly feedState: FeedState;
  readonly feedDetail: string;
  /** Whether this process runs the feed (always true without leader election). */
  readonly leading: boolean;
  readonly stats: IngestStats;
  readonly pipeline: IngestPipeline;
  /** Closes the vendor socket, drains what is read onto the bus, then gives up the lease. */
  stop(): Promise<void>;
}

export async function createIngest(options: IngestOptions): Promise<Ingest> {
  const { bus, catalog, logger, polygon } = options;
  const stats = new IngestStats();
  const source = polygon === undefined ? 'synthetic' : 'polygon';
  const elect = options.leaderElection ?? bus.kind === 'redis';
  let feed: Feed | undefined;
  /** A standby's feed, made ready (socket open, not authenticated) for the moment it leads. */
  let ready: Feed | undefined;
  let stopping = false;
  let elections = 0;
  let lease: LeaderLease | undefined;
  const mayPublish = () => lease === undefined || lease.holds();

  const histograms = options.metrics ? createIngestHistograms(options.metrics) : undefined;
  const pipeline = new IngestPipeline({
    bus,
    tapes: [...catalog.products.values()].map((product) => product.tape),
    aggregates: polygon !== undefined && /(^|,)AM?\./.test(polygon.subscriptions),
    stats,
    logger,
    histograms,
    mayPublish,
    onStatus: (status, message) => feed?.status(status, message),
    publisher: options.publisher,
    lastValueIntervalMs: options.lastValueIntervalMs,
    barStoreIntervalMs: options.barStoreIntervalMs,
    maxClockSkewMs: options.maxClockSkewMs,
    now: options.now,
  });
  if (options.metrics) {
    registerIngestMetrics(options.metrics, {
      stats,
      normalizer: pipeline.normalizer,
      feedState: () => feed?.state ?? 'idle',
      leader: () => lease === undefined || lease.leading,
      elections: () => elections,
    });
  }
  const synthetic = options.synthetic ?? {};
  const market =
    polygon === undefined
      ? new SyntheticMarket({ symbols: synthetic.symbols ?? DEFAULT_SYNTHETIC_SYMBOLS, seed: synthetic.seed })
      : undefined;

  const newFeed = (): Feed => {
    if (polygon === undefined) {
      return new SyntheticFeed({
        market: market!,
        rate: synthetic.rate ?? DEFAULT_SYNTHETIC_RATE,
        onFrame: pipeline.frame,
      });
    }
    return new PolygonFeed({
      ...polygon,
      onFrame: pipeline.frame,
      onOversized: () => pipeline.normalizer.count('oversized'),
      stats,
      logger,
    });
  };
  const standBy = () => {
    if (stopping || ready !== undefined || polygon === undefined) return;
    ready = newFeed();
    ready.prepare?.();
  };
  const run = () => {
    if (stopping || feed !== undefined) return;
    const current = ready ?? newFeed();
    ready = undefined;
    feed = current;
    if (lease !== undefined) {
      elections++;
      const electedAt = performance.now();
      pipeline.publisher.whenPublished(() => {
        if (feed === current) histograms?.takeoverSeconds.observe((performance.now() - electedAt) / 1000);
      });
    }
    pipeline.lastValues.start();
    if (market !== undefined) {
      writeSyntheticTickers(bus, market.instruments).catch((error: unknown) =>
        logger.warn({ err: error }, "the synthetic market's ticker list could not be stored"),
      );
    }
    // The day's bars continue from the store before the first trade of this term is read.
    void pipeline.startBars().then(() => {
      if (feed === current && !stopping) current.start();
    });
  };
  const standDown = () => {
    const current = feed;
    feed = undefined;
    pipeline.publisher.discard();
    pipeline.lastValues.discard();
    pipeline.discardBars();
    void current?.stop();
    standBy();
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
    standBy();
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
      await ready?.stop();
      ready = undefined;
      // The vendor socket closes before the lease is released, so a standby taking over never
      // overlaps with it; what was read before the close still goes out under the lease.
      await feed?.stop();
      feed = undefined;
      let timer: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, DRAIN_LIMIT_MS);
      });
      await Promise.race([
        Promise.all([pipeline.publisher.drain(), pipeline.lastValues.stop(), pipeline.stopBars()]),
        limit,
      ]);
      clearTimeout(timer);
      await lease?.stop();
      logger.info({ source }, 'ingest stopped');
    },
  };
}
