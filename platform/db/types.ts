/** Rows come back as plain objects; int8 columns as JS numbers, numeric as strings, on both engines. */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * Parse and plan the statement once per connection, not on every call (PostgreSQL: a prepared
   * statement named after its text): for a statement with parameters on a hot path, sent with the
   * same text again and again. PGlite, in-process, ignores it. Default false.
   */
  prepare?: boolean;
}

/** Something SQL can be sent to: the database itself or an open transaction. */
export interface Queryable {
  /**
   * Without parameters the text goes through PostgreSQL's simple protocol on both engines, so it
   * may hold several statements (a migration); the result is the last statement's.
   */
  query<R = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<R>>;
}

/** A transaction handle. Work done through it commits or rolls back as one. */
export type Tx = Queryable;

/**
 * The one storage interface: PostgreSQL (`DATABASE_URL`) in production, PGlite under
 * `MDHUB_DATA_DIR` for the embedded default and tests. SQL is written once, in PostgreSQL's dialect.
 */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Cheap liveness probe for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /** `postgres://…`; when absent the embedded PGlite is used. */
  url?: string;
  /** PGlite data directory; `memory://` (the default when absent) keeps it in memory. */
  dataDir?: string;
  /** PostgreSQL schema to work in (created if missing); tests use one per file. */
  schema?: string;
  /** Pool size for PostgreSQL (default 10). */
  poolSize?: number;
}
