import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { Db, OpenDbOptions, QueryOptions, QueryResult, Tx } from './types.js';

export interface PostgresDbOptions extends Pick<OpenDbOptions, 'schema' | 'poolSize'> {
  /** `postgres://…`; never logged, it may carry a password. */
  url: string;
  logger?: Logger;
}

/**
 * How long opening one connection may take: without a bound, a server that drops packets would
 * hold a query (and the boot retries in platform/reach.ts) for as long as TCP keeps trying.
 */
const CONNECT_TIMEOUT_MS = 5_000;

const INT8_OID = 20;
const INT8_ARRAY_OID = 1016;
const TEXT_ARRAY_OID = 1009;
const NUMERIC_ARRAY_OID = 1231;

/** Names that can go into `search_path` and DDL unquoted-safe, so no identifier escaping is ever needed. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Validates a schema name; shared by both engines so they accept exactly the same names. */
export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new Error(`invalid schema name ${JSON.stringify(schema)}: expected ${SCHEMA_NAME}`);
  }
  return schema;
}

/**
 * int8 as a JS number on both engines: the project's int8 columns are epoch milliseconds, counts
 * and sequences, far below 2^53. A value beyond that fails loudly instead of being rounded, since
 * a silently wrong count or sequence is worse than an error.
 */
export function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${value} does not fit a JS number exactly`);
  return n;
}

type TextArray = (string | null | TextArray)[];

function int8Elements(values: TextArray): unknown[] {
  return values.map((v) => (v === null ? null : Array.isArray(v) ? int8Elements(v) : parseInt8(v)));
}

/** pg-types declares only the scalar oids; at runtime it parses every builtin, arrays included. */
const builtinParser = pg.types.getTypeParser as (
  oid: number,
  format: 'text' | 'binary',
) => (value: string) => unknown;

const parseTextArray = builtinParser(TEXT_ARRAY_OID, 'text') as (value: string) => TextArray;

/**
 * Per-pool parsers, so another library in the process using `pg` keeps its own defaults. Arrays
 * follow their elements, as PGlite's do: int8[] as numbers, and numeric[] as strings where pg's
 * default would hand out floats (money is never a float).
 */
const parsers = new Map<number, (value: string) => unknown>([
  [INT8_OID, parseInt8],
  [INT8_ARRAY_OID, (value) => int8Elements(parseTextArray(value))],
  [NUMERIC_ARRAY_OID, parseTextArray],
]);

const typeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format: 'text' | 'binary' = 'text') =>
    (format === 'text' && parsers.get(oid)) ||
    builtinParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * `search_path` as a startup option puts every pooled connection in the schema from its first
 * query on; merged into the URL because pg lets the URL's own `options` override the config's.
 */
function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  const existing = parsed.searchParams.get('options');
  const option = `-c search_path=${schema}`;
  parsed.searchParams.set('options', existing ? `${existing} ${option}` : option);
  return parsed.toString();
}

/**
 * A parameterless query goes through the simple protocol (pg's own choice), which may carry
 * several statements, as migration files do; the result is the last statement's.
 */
function toResult<R>(result: pg.QueryResult | pg.QueryResult[]): QueryResult<R> {
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  if (!last) return { rows: [], rowCount: 0 };
  return { rows: last.rows as R[], rowCount: last.rowCount ?? 0 };
}

/** Prepared statements' names by text: the same text has the same name on every connection. */
const preparedNames = new Map<string, string>();

/**
 * What `client.query` is given: the text, or for a statement to prepare, the text under its name
 * (pg parses a name once per connection and only binds it afterwards).
 */
function statement(text: string, params: readonly unknown[] | undefined, options: QueryOptions | undefined) {
  if (!options?.prepare || !params) return text;
  let name = preparedNames.get(text);
  if (name === undefined) {
    name = `mdhub_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    preparedNames.set(text, name);
  }
  return { name, text };
}

/**
 * Only the message and code: pg-pool attaches the whole client to its errors, connection
 * parameters (password included) and all, which a logger would otherwise serialise.
 */
function describeError(err: unknown): { error: string; code?: string } {
  const { message, code } = err as { message?: string; code?: string };
  return { error: String(message ?? err), code };
}

/** Opens a pooled PostgreSQL `Db`, creating `schema` first when one is given. */
export async function openPostgres(options: PostgresDbOptions): Promise<Db> {
  const { logger } = options;
  const schema = options.schema === undefined ? undefined : checkSchemaName(options.schema);
  const pool = new pg.Pool({
    connectionString: schema ? withSearchPath(options.url, schema) : options.url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types: typeParsers,
  });
  // An idle connection dropped by the server must not take the process down; the pool discards
  // it and the next query opens a fresh one.
  pool.on('error', (err) => logger?.error(describeError(err), 'postgres idle connection failed'));

  const query = async <R>(
    client: pg.Pool | pg.PoolClient,
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>> =>
    toResult<R>(await client.query(statement(text, params, options), params as unknown[] | undefined));

  if (schema) {
    try {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    } catch (err) {
      // Two processes creating the same schema at once: the loser sees a unique violation, and
      // the schema it wanted exists.
      if ((err as { code?: string }).code !== '23505') {
        await pool.end();
        throw err;
      }
    }
  }

  let closed = false;
  return {
    kind: 'postgres',
    query: (text, params, options) => query(pool, text, params, options),

    async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // While checked out the pool no longer listens for this client's errors; an unlistened
      // 'error' event would crash the process.
      const onError = (err: Error) =>
        logger?.error(describeError(err), 'postgres connection failed in transaction');
      client.on('error', onError);
      let open = true;
      // A handle leaked past the end of `fn` must not run queries on a client someone else now holds.
      const tx: Tx = {
        query: (text, params, options) => {
          if (!open) return Promise.reject(new Error('transaction is closed'));
          return query(client, text, params, options);
        },
      };
      let broken = false;
      try {
        await client.query('BEGIN');
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch (rollbackErr) {
          broken = true;
          logger?.error(describeError(rollbackErr), 'postgres rollback failed; discarding the connection');
        }
        throw err;
      } finally {
        open = false;
        client.off('error', onError);
        client.release(broken);
      }
    },

    async ping() {
      await pool.query('select 1');
    },

    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
