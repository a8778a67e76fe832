/**
 * Fakes of the external services and helpers shared by the tests, the drill and the bench: a
 * Polygon-protocol WebSocket server, a Polygon REST server, a Stripe-API server, a runner for the built CLI, a table
 * lock held on purpose, and a Redis Cluster of one's own. Each speaks the real wire protocol, so the code under test runs unchanged
 * against it.
 */
export { type Finished, freePort, MDHUB_BIN, runCli, spawnCli, waitForOk } from './cli.js';
export { holdTableLock, type TableLock } from './db-locks.js';
export {
  FakePolygonRest,
  type FakePolygonRestOptions,
  type RecordedRestRequest,
} from './polygon-rest-server.js';
export { type FakePolygonOptions, FakePolygonServer } from './polygon-server.js';
export {
  type PrivatePostgres,
  postgresBinDir,
  privatePostgresUnavailable,
  startPrivatePostgres,
} from './private-postgres.js';
export { clusterUnavailable, RedisCluster, type RedisClusterOptions } from './redis-cluster.js';
export {
  type FakeCustomer,
  type FakeMeter,
  type FakeMeterEvent,
  type FakeStripe,
  type FakeStripeOptions,
  type InjectedFault,
  parseForm,
  type RecordedRequest,
  startFakeStripe,
} from './stripe-server.js';
