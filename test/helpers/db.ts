/**
 * Real databases for tests, never mocks: every test file gets a fresh in-memory PGlite and a
 * PostgreSQL schema of its own (dropped afterwards), both migrated with the project's migrations.
 *
 *   forEachDb((engine, getDb) => {
 *     it('stores a grant', async () => {
 *       const db = getDb();
 *       await db.query('insert into …', [...]);
 *     });
 *   });
 *
 * runs the body once per engine inside `describe.each`. PostgreSQL is `TEST_DATABASE_URL`, by
 * default `postgres://postgres@127.0.0.1:5432/test`. For a database of your own (an unmigrated
 * one, or a second per file), call `openTestDb` and `cleanup()` it in `afterAll`.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe } from 'vitest';
import { type Db, migrate, openDb } from '../../platform/db/index.js';
import { runTag } from './services.js';

export type Engine = Db['kind'];

export const ENGINES: readonly Engine[] = ['pglite', 'postgres'];

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A schema name no other test file or run will pick. */
export function uniqueSchema(prefix = 't'): string {
  return `${prefix}${runTag()}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export interface TestDb {
  db: Db;
  /** The PostgreSQL schema this database works in; absent for PGlite. */
  schema?: string;
  /** Drops the PostgreSQL schema and closes the database. */
  cleanup(): Promise<void>;
}

export interface TestDbOptions {
  /** Apply the project's migrations (default true). */
  migrated?: boolean;
  /** Reuse an existing PostgreSQL schema, e.g. a second connection pool onto another TestDb. */
  schema?: string;
}

export async function openTestDb(engine: Engine, options: TestDbOptions = {}): Promise<TestDb> {
  const schema = engine === 'postgres' ? (options.schema ?? uniqueSchema()) : undefined;
  const db = await openDb(schema ? { url: TEST_DATABASE_URL, schema } : {});
  if (options.migrated ?? true) await migrate(db);
  return {
    db,
    schema,
    async cleanup() {
      try {
        if (schema) await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await db.close();
      }
    },
  };
}

/** Runs `body` once per engine, each with its own migrated database for the whole block. */
export function forEachDb(
  body: (engine: Engine, getDb: () => Db) => void,
  options: TestDbOptions = {},
): void {
  describe.each(ENGINES)('%s', (engine) => {
    let testDb: TestDb | undefined;
    beforeAll(async () => {
      testDb = await openTestDb(engine, options);
    });
    afterAll(async () => {
      await testDb?.cleanup();
    });
    body(engine, () => {
      if (!testDb) throw new Error('getDb() is for use inside tests and hooks, not while defining them');
      return testDb.db;
    });
  });
}
