import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { reach } from '../reach.js';
import { lockDataDir } from './lock.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';
import type { Db, OpenDbOptions } from './types.js';

/**
 * Opens the system of record: PostgreSQL when a URL is configured (scaled deployments), else the
 * embedded PGlite, so a fresh machine runs with nothing installed. Callers code against `Db` only.
 */
export async function openDb(options: OpenDbOptions & { logger?: Logger }): Promise<Db> {
  const { url, logger, schema, poolSize, dataDir } = options;
  if (url) return openPostgres({ url, logger, schema, poolSize });
  return openPglite({ dataDir, schema });
}

/** The configured database, with what the data-directory lock needs from its opener. */
export interface ConfiguredDb extends Db {
  /**
   * Embedded mode: records in the data-directory lock where this process serves its admin API,
   * so a command run beside it goes there instead of opening the directory again. A no-op on
   * PostgreSQL, which has any number of writers.
   */
  advertise(adminUrl: string): Promise<void>;
}

/** Where the system of record is. */
export interface DataSource {
  /** PostgreSQL (`DATABASE_URL`); absent, the embedded PGlite under `dataDir`. */
  url?: string;
  /** The data directory (`MDHUB_DATA_DIR`): PGlite in `pglite/`, its one-writer lock `hub.lock`. */
  dataDir: string;
  /** How long PostgreSQL is retried before the failure names `DATABASE_URL` (`MDHUB_CONNECT_RETRY_MS`). */
  connectRetryMs: number;
}

export interface ConfiguredDbOptions {
  logger?: Logger;
  schema?: string;
  /** What opens it (`mdhub start`, `mdhub report`…), named to whoever finds the directory held. */
  purpose?: string;
}

/**
 * The configured database, as every process and command finds it: PostgreSQL at `source.url`,
 * else PGlite under `<dataDir>/pglite`. The embedded database has one writer: the opener holds
 * `<dataDir>/hub.lock` until `close`, and a directory another live process holds is refused with
 * `DataDirLockedError` before anything is opened. PostgreSQL is retried for `connectRetryMs`
 * until it answers a query, then the failure names `DATABASE_URL` (see platform/reach.ts).
 */
export async function openConfiguredDb(
  source: DataSource,
  options: ConfiguredDbOptions = {},
): Promise<ConfiguredDb> {
  const { logger, schema, purpose } = options;
  const { url, dataDir } = source;
  if (url) {
    const target = { what: 'PostgreSQL', variable: 'DATABASE_URL', url, retryMs: source.connectRetryMs };
    const db = await reach(target, async () => {
      const opened = await openDb({ url, logger, schema });
      try {
        await opened.ping();
        return opened;
      } catch (err) {
        await opened.close();
        throw err;
      }
    });
    return { ...db, advertise: async () => {} };
  }
  const lock = await lockDataDir(dataDir, { purpose, logger });
  let db: Db;
  try {
    db = await openDb({ dataDir: join(dataDir, 'pglite'), logger, schema });
  } catch (error) {
    await lock.release();
    throw error;
  }
  return {
    ...db,
    advertise: (adminUrl) => lock.advertise(adminUrl),
    async close() {
      try {
        await db.close();
      } finally {
        await lock.release();
      }
    },
  };
}
