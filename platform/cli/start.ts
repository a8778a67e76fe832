import { ROLES, type Role, startHub } from '../hub.js';
import { STARTERS } from '../roles.js';
import { CliError, type Command } from './command.js';
import { loadEnvironment } from './environment.js';

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
in-process bus, PGlite under MDHUB_DATA_DIR (./data), synthetic feed. With REDIS_URL and
DATABASE_URL set, run the roles as separate processes, any number of edges:
  ingest  the vendor feed onto the bus (one live vendor connection, leader-elected)
  edge    the client WebSocket /stocks and REST snapshots, fan-out and display metering
  meter   usage events from the bus into the usage ledger
  api     the admin API and Stripe webhooks
Every process serves /healthz, /readyz and /metrics on PORT. SIGINT or SIGTERM shuts down
cleanly within 5 s. Redis or PostgreSQL unreachable at boot: retried for MDHUB_CONNECT_RETRY_MS
(10 s), then exit 1 with one line naming REDIS_URL or DATABASE_URL.`,
  async run(values) {
    const roles = parseRoles(values.roles as string | undefined);
    const { env, catalog, logger } = loadEnvironment();
    const hub = await startHub({
      env,
      catalog,
      logger,
      roles,
      starters: STARTERS,
      busPrefix: env.MDHUB_REDIS_PREFIX,
    });
    await new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        logger.info({ signal }, 'shutting down');
        const force = setTimeout(() => {
          logger.error('shutdown took longer than 5 s; exiting anyway');
          process.exit(1);
        }, SHUTDOWN_LIMIT_MS);
        force.unref();
        hub.stop().then(resolve, resolve);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
    });
    return 0;
  },
};
