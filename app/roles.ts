/**
 * The four role starters, in one place: what each role starts, from the hub's context, with its
 * options mapped from the environment by app/options.ts. `startHub` runs the ones asked for.
 */
import { Edge, type EdgeOptions, type EntitlementView, SpoolFile } from '../distribution/index.js';
import { EntitlementCache } from '../entitlements/index.js';
import { createIngest } from '../ingest/index.js';
import { runMeter, startSessionSweeper } from '../usage/index.js';
import { startApi } from './api.js';
import type { Role, RoleStarter } from './hub.js';
import { edgeOptionsFromEnv, ingestOptions } from './options.js';

/** The `ingest` role: the vendor feed onto the bus (leader-elected on Redis). */
export const startIngest: RoleStarter = (ctx) =>
  createIngest({
    bus: ctx.bus,
    catalog: ctx.catalog,
    logger: ctx.logger.child({ role: 'ingest' }),
    metrics: ctx.metrics,
    health: ctx.health,
    ...ingestOptions(ctx.env),
  });

export interface EdgeStarterOptions {
  /** Settings over those from the environment. */
  options?: Partial<EdgeOptions>;
  /** Decisions from here instead of an EntitlementCache of the edge's own. */
  entitlements?: EntitlementView;
  /** The edge's clock (tests: a day of their choosing); default Date.now. */
  now?: () => number;
}

/**
 * The `edge` role: registers `/stocks`, mounts the REST snapshot routes, keeps an entitlement
 * cache (unless given one), reads ticks and meters usage until stopped.
 */
export function createEdgeStarter(starter: EdgeStarterOptions = {}): RoleStarter {
  return async (ctx) => {
    let cache: EntitlementCache | undefined;
    let view = starter.entitlements;
    if (view === undefined) {
      cache = new EntitlementCache({
        db: ctx.db,
        control: ctx.bus.control,
        catalog: ctx.catalog,
        defaultSessionLimit: ctx.env.MDHUB_SESSION_LIMIT,
        verifyIntervalMs: ctx.env.MDHUB_ENTITLEMENT_VERIFY_MS,
        logger: ctx.logger,
        metrics: ctx.metrics,
      });
      await cache.start();
      view = cache;
    }
    const options = edgeOptionsFromEnv(ctx.env, starter.options);
    let spoolFile: SpoolFile | undefined;
    try {
      spoolFile = options.spool && (await SpoolFile.open({ ...options.spool, logger: ctx.logger }));
    } catch (error) {
      await cache?.stop();
      throw error;
    }
    const edge = new Edge({
      bus: ctx.bus,
      catalog: ctx.catalog,
      view,
      logger: ctx.logger,
      options,
      metrics: ctx.metrics,
      spoolFile,
      now: starter.now,
    });
    ctx.upgrade('/stocks', edge.handleUpgrade);
    ctx.app.route('/', edge.routes());
    edge.start();
    return {
      async stop() {
        await edge.stop();
        await cache?.stop();
      },
    };
  };
}

export const startEdge: RoleStarter = createEdgeStarter();

/**
 * The `meter` role: the consumer that commits usage events into the ledger, and the sweeper that
 * closes the sessions of edges that died without closing them (usage/session-sweeper.ts).
 */
export const startMeter: RoleStarter = async (ctx) => {
  const meter = await runMeter({
    db: ctx.db,
    bus: ctx.bus,
    logger: ctx.logger,
    metrics: ctx.metrics,
    claimMinIdleMs: ctx.env.MDHUB_METER_CLAIM_MS,
  });
  const sweeper = startSessionSweeper({
    db: ctx.db,
    bus: ctx.bus,
    logger: ctx.logger,
    metrics: ctx.metrics,
    intervalMs: ctx.env.MDHUB_SESSION_SWEEP_MS,
  });
  return {
    async stop() {
      await sweeper.stop();
      await meter.stop();
    },
  };
};

/** What each role starts. */
export const STARTERS: Readonly<Record<Role, RoleStarter>> = {
  ingest: startIngest,
  edge: startEdge,
  meter: startMeter,
  api: startApi,
};
