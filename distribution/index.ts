/**
 * Distribution: the client WebSocket (`/stocks`, Polygon's protocol) and REST snapshots, fan-out
 * per entitlement, the delay line, slow-consumer handling, session limits and display metering.
 * docs/distribution.md describes the protocol, the limits and the usage events.
 */
import { EntitlementCache } from '../entitlements/index.js';
import type { RoleStarter } from '../platform/hub.js';
import { Edge } from './edge.js';
import type { EntitlementView } from './entitlement-view.js';
import { type EdgeOptions, edgeOptions } from './options.js';
import { SpoolFile } from './spool-file.js';

export { Edge, type EdgeDeps } from './edge.js';
export type { EntitlementView, Principal } from './entitlement-view.js';
export { type EdgeOptions, edgeOptions } from './options.js';
export { ERROR_CODES } from './protocol.js';
export {
  dayNumber,
  dayString,
  deliveriesEvent,
  firstAccessEvent,
  parseUsageEvent,
  queryEvent,
  sessionCloseEvent,
  sessionOpenEvent,
  USAGE_EVENT_VERSION,
  USAGE_STREAM,
  type UsageEvent,
  type UsageEventKind,
  usageEventSchema,
} from './usage-event.js';

export interface EdgeStarterOptions {
  /** Settings over those from the environment. */
  options?: Partial<EdgeOptions>;
  /** Decisions from here instead of an EntitlementCache of the edge's own. */
  entitlements?: EntitlementView;
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
      });
      await cache.start();
      view = cache;
    }
    const options = edgeOptions(ctx.env, starter.options);
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
