/**
 * The composition root: `startHub`, the four role starters, the api wiring, the CLI and the one
 * mapping of the environment to module options. Nothing in the modules imports it; `bin/`, the
 * bench and the tests do.
 */
export { startApi, startAuditCheckpoints, startBillingWorker } from './api.js';
export { CliError, type Command, main } from './cli/main.js';
export {
  type Hub,
  type HubContext,
  type HubOptions,
  ROLES,
  type Role,
  type RoleStarter,
  type RunningRole,
  STOP_ORDER,
  startHub,
} from './hub.js';
export {
  checkpointOptions,
  dataSource,
  edgeOptionsFromEnv,
  ingestOptions,
  paymentProvider,
} from './options.js';
export {
  createEdgeStarter,
  type EdgeStarterOptions,
  STARTERS,
  startEdge,
  startIngest,
  startMeter,
} from './roles.js';
