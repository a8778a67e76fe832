import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdir } from 'node:fs/promises';
import { PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import { checkSchemaName, parseInt8 } from './postgres.js';
import type { Db, OpenDbOptions, QueryResult, Tx } from './types.js';

export type PgliteDbOptions = Pick<OpenDbOptions, 'dataDir' | 'schema'>;

const INT8_OID = 20;
const MEMORY = 'memory://';

/**
 * A parameterless query runs through the simple protocol, as it does with `pg`, so that a script
 * of several statements (a migration file) works on both engines; the result is the last
 * statement's.
 */
function toResult<R>(results: Results | Results[]): QueryResult<R> {
  const last = Array.isArray(results) ? results[results.length - 1] : results;
  if (!last) return { rows: [], rowCount: 0 };
  return { rows: last.rows as R[], rowCount: last.rowCount ?? 0 };
}

async function run<R>(
  target: PGlite | Transaction,
  text: string,
  params?: readonly unknown[],
): Promise<QueryResult<R>> {
  if (!params || params.length === 0) return toResult<R>(await target.exec(text));
  return toResult<R>(await target.query(text, params as unknown[]));
}

/**
 * Opens the embedded PGlite `Db`. PGlite is one connection: its own mutex queues every query
 * behind an open transaction, so a query from elsewhere waits instead of landing inside it.
 */
export async function openPglite(options: PgliteDbOptions = {}): Promise<Db> {
  const dataDir = options.dataDir ?? MEMORY;
  const schema = options.schema === undefined ? undefined : checkSchemaName(options.schema);
  if (!dataDir.includes('://')) await mkdir(dataDir, { recursive: true });
  const pglite = await PGlite.create(dataDir, { parsers: { [INT8_OID]: parseInt8 } });
  if (schema) {
    try {
      await pglite.exec(`CREATE SCHEMA IF NOT EXISTS "${schema}"; SET search_path TO "${schema}"`);
    } catch (err) {
      await pglite.close();
      throw err;
    }
  }

  // Awaiting `db.query` inside `fn` would wait on the mutex `fn` itself holds, forever; the open
  // transaction is tracked per async context so that mistake fails with a message instead.
  const inTransaction = new AsyncLocalStorage<{ open: boolean }>();
  const checkNotInTransaction = (): void => {
    if (inTransaction.getStore()?.open) {
      throw new Error('db used inside db.transaction(): use the tx handle, the db waits for the transaction');
    }
  };

  return {
    kind: 'pglite',
    async query(text, params) {
      checkNotInTransaction();
      return run(pglite, text, params);
    },

    async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
      checkNotInTransaction();
      const state = { open: true };
      try {
        return await pglite.transaction((transaction) =>
          inTransaction.run(state, () => fn({ query: (text, params) => run(transaction, text, params) })),
        );
      } finally {
        state.open = false;
      }
    },

    async ping() {
      await pglite.query('select 1');
    },

    async close() {
      if (!pglite.closed) await pglite.close();
    },
  };
}
