import { join } from 'node:path';
import type { Env } from '../../config/index.js';
import type { Logger } from '../logger.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';
import type { Db, OpenDbOptions } from './types.js';

export type { MigrateOptions, MigrateResult } from './migrate.js';
export { migrate } from './migrate.js';
export type { Db, OpenDbOptions, Queryable, QueryResult, Tx } from './types.js';

/**
 * Opens the system of record: PostgreSQL when a URL is configured (scaled deployments), else the
 * embedded PGlite, so a fresh machine runs with nothing installed. Callers code against `Db` only.
 */
export async function openDb(options: OpenDbOptions & { logger?: Logger }): Promise<Db> {
  const { url, logger, schema, poolSize, dataDir } = options;
  if (url) return openPostgres({ url, logger, schema, poolSize });
  return openPglite({ dataDir, schema });
}

/**
 * The database the environment names, as every process and command finds it: `DATABASE_URL`,
 * else PGlite under `MDHUB_DATA_DIR/pglite`.
 */
export function openConfiguredDb(env: Env, options: { logger?: Logger; schema?: string } = {}): Promise<Db> {
  return openDb({
    url: env.DATABASE_URL,
    dataDir: env.DATABASE_URL ? undefined : join(env.MDHUB_DATA_DIR, 'pglite'),
    ...options,
  });
}
