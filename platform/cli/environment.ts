import { join } from 'node:path';
import { type Catalog, type Env, loadCatalog, parseEnv } from '../../config/index.js';
import { type Db, openDb } from '../db/index.js';
import { createLogger, type Logger } from '../logger.js';

export interface Environment {
  env: Env;
  catalog: Catalog;
  logger: Logger;
}

/** Reads the environment and the catalog once, for any command; a bad value throws a `ConfigError`. */
export function loadEnvironment(source: NodeJS.ProcessEnv = process.env): Environment {
  const env = parseEnv(source);
  const catalog = loadCatalog(env.MDHUB_CATALOG, env.MDHUB_DELAY_MS);
  return { env, catalog, logger: createLogger({ level: env.MDHUB_LOG_LEVEL }) };
}

/** The database a command works on, as `mdhub start` finds it: DATABASE_URL, else PGlite under MDHUB_DATA_DIR. */
export function openConfiguredDb(env: Env, logger: Logger): Promise<Db> {
  return openDb({
    url: env.DATABASE_URL,
    dataDir: env.DATABASE_URL ? undefined : join(env.MDHUB_DATA_DIR, 'pglite'),
    logger,
  });
}
