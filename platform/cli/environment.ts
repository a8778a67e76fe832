import { type Catalog, type Env, loadCatalog, parseEnv } from '../../config/index.js';
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
