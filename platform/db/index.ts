/**
 * The database: one `Db` interface over PostgreSQL (scaled) and PGlite (embedded), migrations,
 * and the embedded data directory's one-writer lock.
 */
export type { DataDirLock, LockHolder } from './lock.js';
export { DataDirLockedError, LOCK_FILE, lockDataDir } from './lock.js';
export type { MigrateOptions, MigrateResult } from './migrate.js';
export { migrate } from './migrate.js';
export {
  type ConfiguredDb,
  type ConfiguredDbOptions,
  type DataSource,
  openConfiguredDb,
  openDb,
} from './open.js';
export type { Db, OpenDbOptions, Queryable, QueryResult, Tx } from './types.js';
export { isDatabaseUnavailable } from './unavailable.js';
