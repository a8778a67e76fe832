import { join } from 'node:path';
import type { Env } from '../../config/index.js';
import type { Logger } from '../logger.js';
import { reach } from '../reach.js';
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
 * else PGlite under `MDHUB_DATA_DIR/pglite`. PostgreSQL is retried for `MDHUB_CONNECT_RETRY_MS`
 * until it answers a query, then the failure names `DATABASE_URL` (see platform/reach.ts).
 */
export function openConfiguredDb(env: Env, options: { logger?: Logger; schema?: string } = {}): Promise<Db> {
  const url = env.DATABASE_URL;
  if (!url) return openDb({ dataDir: join(env.MDHUB_DATA_DIR, 'pglite'), ...options });
  const target = { what: 'PostgreSQL', variable: 'DATABASE_URL', url, retryMs: env.MDHUB_CONNECT_RETRY_MS };
  return reach(target, async () => {
    const db = await openDb({ url, ...options });
    try {
      await db.ping();
      return db;
    } catch (err) {
      await db.close();
      throw err;
    }
  });
}
