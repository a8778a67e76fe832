import { DataDirLockedError } from '../../platform/db/index.js';
import { type Hub, ROLES, type Role, startHub } from '../hub.js';
import { STARTERS } from '../roles.js';
import { CliError, type Command } from './command.js';
import { loadEnvironment } from './environment.js';
import { refusal } from './reach.js';

/** How long a clean shutdown may take before the process exits anyway. */
const SHUTDOWN_LIMIT_MS = 5_000;

export function parseRoles(text: string | undefined): Role[] {
  if (text === undefined) return [...ROLES];
  const roles = text.split(',').map((r) => r.trim());
  const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
  if (unknown.length > 0 || roles.length === 0)
    throw new CliError(`unknown role ${unknown.join(',') || '(none)'}; roles are ${ROLES.join(', ')}`, 2);
  return roles as Role[];
}

export const startCommand: Command = {
  name: 'start',
  summary: 'run the hub (all roles in one process by default)',
  options: { roles: { type: 'string' } },
  help: `Usage: mdhub start [--roles ingest,edge,meter,api]

Runs the hub. With no environment set it is the embedded default: every role in one process,
in-process bus, PGlite under MDHUB_DATA_DIR (./data), synthetic feed. With REDIS_URL (one Redis)
or REDIS_CLUSTER_URLS (a Redis Cluster's seed nodes, redis://h1:7000,redis://h2:7001,...) and
DATABASE_URL set, run the roles as separate processes, any number of edges:
  ingest  the vendor feed onto the bus (one live vendor connection, leader-elected)
  edge    the client WebSocket /stocks and REST snapshots, fan-out and display metering
  meter   usage events from the bus into the usage ledger
  api     the admin API and Stripe webhooks
Every process serves /healthz, /readyz and /metrics on PORT. SIGINT or SIGTERM shuts down
cleanly within 5 s: connections stop being accepted, the edge closes its sessions (1001) and
flushes their usage, the meter commits what is on the usage stream, then the rest stops. Usage
events the bus could not take stay in the spool file (MDHUB_SPOOL_DIR) for the next start. A
second signal exits at once; a signal while the hub starts stops it once it is up. Redis or
PostgreSQL unreachable at boot: retried for MDHUB_CONNECT_RETRY_MS (10 s), then exit 1 with one
line naming REDIS_URL, REDIS_CLUSTER_URLS or DATABASE_URL.

The embedded database has one writer: the hub holds MDHUB_DATA_DIR/hub.lock (its pid and admin
API address) while it runs, a second hub on the same directory is refused, and a lock left by a
process that no longer runs is taken over. Commands run beside it go through its admin API.`,
  async run(values) {
    const roles = parseRoles(values.roles as string | undefined);
    const { env, catalog, logger } = loadEnvironment(process.env, { logTo: 'stdout' });
    // Listening for signals from the start: one that arrives while the hub is still starting (a
    // deploy rolling on) stops it cleanly once it is up, instead of killing it mid-start.
    let hub: Hub | undefined;
    let pending: NodeJS.Signals | undefined;
    let stopping = false;
    let stopped: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      stopped = resolve;
    });
    const stop = (running: Hub, signal: NodeJS.Signals) => {
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.error('shutdown took longer than 5 s; exiting anyway');
        process.exit(1);
      }, SHUTDOWN_LIMIT_MS);
      force.unref();
      running.stop().then(stopped, stopped);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping || pending !== undefined) {
        // The operator insists: what the spool file holds survives, the rest of memory does not.
        logger.error({ signal }, 'second signal while shutting down; exiting now');
        process.exit(1);
      }
      if (hub === undefined) {
        pending = signal;
        logger.warn({ signal }, 'signal while starting: shutting down once started');
        return;
      }
      stop(hub, signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    hub = await startHub({
      env,
      catalog,
      logger,
      roles,
      starters: STARTERS,
      busPrefix: env.MDHUB_REDIS_PREFIX,
    }).catch((error: unknown) => {
      if (error instanceof DataDirLockedError)
        throw refusal(error, 'stop it first, or give this one its own MDHUB_DATA_DIR');
      throw error;
    });
    if (pending !== undefined) {
      const signal = pending;
      pending = undefined;
      stop(hub, signal);
    }
    await finished;
    return 0;
  },
};
