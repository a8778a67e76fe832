import { pino } from 'pino';
import { type Catalog, type Env, loadCatalog, parseEnv } from '../../config/index.js';
import { createLogger, type Logger } from '../../platform/logger.js';

export interface Environment {
  env: Env;
  catalog: Catalog;
  logger: Logger;
}

export interface EnvironmentOptions {
  /**
   * Where log lines go. Default stderr: a command's stdout is its output (a report, an export),
   * which a log line must never land in; the hub logs to stdout.
   */
  logTo?: 'stdout' | 'stderr';
}

/** Reads the environment and the catalog once, for any command; a bad value throws a `ConfigError`. */
export function loadEnvironment(
  source: NodeJS.ProcessEnv = process.env,
  options: EnvironmentOptions = {},
): Environment {
  const env = parseEnv(source);
  const catalog = loadCatalog(env.MDHUB_CATALOG, env.MDHUB_DELAY_MS);
  const destination = options.logTo === 'stdout' ? undefined : pino.destination({ fd: 2, sync: true });
  return { env, catalog, logger: createLogger({ level: env.MDHUB_LOG_LEVEL, destination }) };
}
