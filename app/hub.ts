import type { Catalog, Env } from '../config/index.js';
import { type Bus, openBus } from '../platform/bus/index.js';
import { type Db, migrate, openConfiguredDb } from '../platform/db/index.js';
import { HealthChecks } from '../platform/health.js';
import { type App, createApp } from '../platform/http/app.js';
import { ensurePortFree, type HttpServer, listen, type UpgradeHandler } from '../platform/http/server.js';
import type { Logger } from '../platform/logger.js';
import { createMetricsRegistry, type Registry } from '../platform/metrics.js';
import { UnreachableError } from '../platform/reach.js';
import { dataSource } from './options.js';

export const ROLES = ['ingest', 'edge', 'meter', 'api'] as const;

/** How often the readiness checks run by themselves, so an outage is logged while nobody polls /readyz. */
const READINESS_WATCH_MS = 5_000;
export type Role = (typeof ROLES)[number];

/**
 * The order roles stop in, by what depends on what: the edge first (its sessions' ends and last
 * counters go onto the bus), then the meter (it commits what is on the usage stream, the edge's
 * last events among it), then ingest and the api, which nothing downstream waits for.
 */
export const STOP_ORDER: readonly Role[] = ['edge', 'meter', 'ingest', 'api'];

/** Everything a role needs from the process it runs in. */
export interface HubContext {
  readonly env: Env;
  readonly catalog: Catalog;
  readonly logger: Logger;
  readonly db: Db;
  readonly bus: Bus;
  readonly metrics: Registry;
  readonly health: HealthChecks;
  /** Mount HTTP routes here while starting; the server listens once every role has started. */
  readonly app: App;
  /** Register a WebSocket endpoint on the shared port. */
  upgrade(path: string, handler: UpgradeHandler): void;
  /** The roles this process runs, so a role can tell whether a peer is in-process. */
  readonly roles: ReadonlySet<Role>;
  /** The wall clock the roles' calendar work (the billing month close) reads, epoch ms. */
  readonly now: () => number;
}

export interface RunningRole {
  /** Stops taking new work, finishes or hands back what is in flight, releases resources. */
  stop(): Promise<void>;
}

export type RoleStarter = (ctx: HubContext) => Promise<RunningRole>;

export interface HubOptions {
  env: Env;
  catalog: Catalog;
  logger: Logger;
  roles: readonly Role[];
  /** What each role starts; a role without a starter here runs nothing extra. */
  starters: Partial<Record<Role, RoleStarter>>;
  /** PostgreSQL schema (tests); default: the connection's own search_path. */
  dbSchema?: string;
  /** Redis key prefix (tests); default `mdhub`. */
  busPrefix?: string;
  /** Wall clock for the roles' calendar work (tests); default `Date.now`. */
  now?: () => number;
}

export interface Hub {
  readonly ctx: HubContext;
  readonly http: HttpServer;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Opens the database (migrated) and the bus, starts the requested roles in a fixed order, then
 * listens. `stop` stops accepting connections, stops the roles in `STOP_ORDER`, then closes the
 * bus and the database.
 */
export async function startHub(options: HubOptions): Promise<Hub> {
  const { env, logger } = options;
  // Before anything with a side effect: migrations, the first admin, a billing month closed.
  await ensurePortFree(env.PORT, env.HOST);
  const db = await openConfiguredDb(dataSource(env), {
    schema: options.dbSchema,
    logger,
    purpose: 'the hub',
  });
  const closers: Array<() => Promise<void>> = [() => db.close()];
  try {
    const { applied } = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'database migrated');
    const bus = await openBus({
      url: env.REDIS_URL,
      clusterUrls: env.REDIS_CLUSTER_URLS,
      prefix: options.busPrefix,
      shards: env.MDHUB_SHARDS,
      connectRetryMs: env.MDHUB_CONNECT_RETRY_MS,
      logger,
    }).catch((err: unknown) => {
      const variable = env.REDIS_CLUSTER_URLS === undefined ? 'REDIS_URL' : 'REDIS_CLUSTER_URLS';
      throw err instanceof UnreachableError ? err.from(variable) : err;
    });
    closers.push(() => bus.close());

    const metrics = createMetricsRegistry();
    const health = new HealthChecks({ logger });
    closers.push(async () => health.stop());
    health.add('database', async () => {
      await db.ping();
      return { ok: true, detail: db.kind };
    });
    health.add('bus', async () => {
      const status = await bus.health();
      return status.ok
        ? { ok: true, detail: status.detail ?? bus.kind }
        : { ok: false, detail: status.reason };
    });
    const app = createApp({ logger, metrics, health });
    const upgrades = new Map<string, UpgradeHandler>();
    const roles = new Set<Role>(ROLES.filter((role) => options.roles.includes(role)));
    const ctx: HubContext = {
      env,
      catalog: options.catalog,
      logger,
      db,
      bus,
      metrics,
      health,
      app,
      roles,
      now: options.now ?? Date.now,
      upgrade: (path, handler) => upgrades.set(path, handler),
    };

    const running = new Map<Role, RunningRole>();
    let rolesStopped: Promise<void> | undefined;
    const stopRoles = () => {
      rolesStopped ??= (async () => {
        for (const role of STOP_ORDER) {
          try {
            await running.get(role)?.stop();
          } catch (error) {
            // The roles after it still stop: the meter still commits what the edge left.
            logger.warn({ err: error, role }, 'error while stopping a role');
          }
        }
      })();
      return rolesStopped;
    };
    closers.push(stopRoles);
    for (const role of roles) {
      const starter = options.starters[role];
      if (starter) running.set(role, await starter(ctx));
    }

    const http = await listen(app, {
      port: env.PORT,
      host: env.HOST,
      limits: {
        headersTimeoutMs: env.MDHUB_HTTP_HEADERS_TIMEOUT_MS,
        requestTimeoutMs: env.MDHUB_HTTP_REQUEST_TIMEOUT_MS,
        pendingPerClient: env.MDHUB_HTTP_PENDING_PER_CLIENT,
      },
    });
    health.watch(READINESS_WATCH_MS);
    for (const [path, handler] of upgrades) http.onUpgrade(path, handler);
    // Stop accepting first, then let the roles close what they own (the edge's WebSockets keep
    // the server from closing until then), then wait for the last HTTP connection to end.
    closers.push(async () => {
      const closed = http.close();
      await stopRoles();
      await closed;
    });
    const listening = { port: http.port, roles: [...roles], bus: bus.kind, database: db.kind };
    if (roles.has('api')) {
      const origin = adminUrl(env.HOST, http.port);
      await db.advertise(origin);
      // Where a newcomer goes next, in the line they read first.
      logger.info(
        { ...listening, console: `${origin}/console`, app: `${origin}/app` },
        `mdhub listening: the operator console is ${origin}/console, the quote board ${origin}/app`,
      );
    } else logger.info(listening, 'mdhub listening');

    let stopping: Promise<void> | undefined;
    return {
      ctx,
      http,
      port: http.port,
      stop: () => {
        stopping ??= closeAll(closers, logger);
        return stopping;
      },
    };
  } catch (error) {
    await closeAll(closers, logger);
    throw error;
  }
}

/** Where a command on this machine reaches the admin API: loopback when listening on every interface. */
function adminUrl(host: string, port: number): string {
  const local = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${local.includes(':') ? `[${local}]` : local}:${port}`;
}

/** Runs closers last-opened first; one failing does not keep the others from running. */
async function closeAll(closers: Array<() => Promise<void>>, logger: Logger): Promise<void> {
  for (const close of [...closers].reverse()) {
    try {
      await close();
    } catch (error) {
      logger.warn({ err: error }, 'error while shutting down');
    }
  }
}
