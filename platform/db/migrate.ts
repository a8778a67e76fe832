import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db, Tx } from './types.js';

export interface MigrateOptions {
  /** Folder of `NNNN_name.sql` files; default the package's top-level `migrations/`. */
  dir?: string;
}

export interface MigrateResult {
  /** File names applied by this call, in order; empty when the database was up to date. */
  applied: string[];
}

interface Migration {
  version: number;
  file: string;
  sql: string;
  checksum: string;
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/**
 * Any fixed key works as long as every mdhub process uses the same one; the transaction-scoped
 * lock is released by COMMIT or ROLLBACK, so a crashed migrator never leaves it held.
 */
const LOCK = 'select pg_advisory_xact_lock(7310594735402852419)';

/**
 * The package root holds both the TypeScript sources and `dist/`, so walking up to
 * `package.json` finds `migrations/` from either.
 */
function packageMigrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('migrations: no package.json above the migrator');
    dir = parent;
  }
  return join(dir, 'migrations');
}

async function readMigrations(dir: string): Promise<Migration[]> {
  const byVersion = new Map<number, Migration>();
  for (const file of await readdir(dir)) {
    if (!file.endsWith('.sql')) continue;
    const match = FILE_NAME.exec(file);
    if (!match) throw new Error(`migration ${file}: name must look like 0001_name.sql`);
    const version = Number(match[1]);
    const other = byVersion.get(version);
    if (other) throw new Error(`migrations ${other.file} and ${file} share version ${version}`);
    const sql = await readFile(join(dir, file), 'utf8');
    // Line endings are normalised so a checkout with CRLF conversion is not mistaken for an edit.
    const checksum = createHash('sha256').update(sql.replaceAll('\r\n', '\n')).digest('hex');
    byVersion.set(version, { version, file, sql, checksum });
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

async function recordedChecksum(tx: Tx, version: number): Promise<string | undefined> {
  const { rows } = await tx.query<{ checksum: string }>(
    'select checksum from schema_migrations where version = $1',
    [version],
  );
  return rows[0]?.checksum;
}

function changedError(migration: Migration): Error {
  return new Error(
    `migration ${migration.file} was changed after it was applied (its checksum differs); ` +
      'restore it and add a new migration instead',
  );
}

/**
 * Applies the pending migrations in version order, each in its own transaction together with
 * its `schema_migrations` row, so a failing file leaves no trace and the next run retries it.
 * Every step holds one advisory lock: processes starting at once apply each file once. A file
 * must not contain its own transaction control (or anything that cannot run in a transaction).
 */
export async function migrate(db: Db, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await readMigrations(options.dir ?? packageMigrationsDir());

  // Verify every applied file before applying anything, so an edited history stops the boot.
  const pending = await db.transaction(async (tx) => {
    await tx.query(LOCK);
    await tx.query(
      'create table if not exists schema_migrations (version int primary key, name text not null, ' +
        'checksum text not null, applied_at int8 not null)',
    );
    const { rows } = await tx.query<{ version: number; checksum: string }>(
      'select version, checksum from schema_migrations',
    );
    const recorded = new Map(rows.map((row) => [row.version, row.checksum]));
    for (const migration of migrations) {
      const checksum = recorded.get(migration.version);
      if (checksum !== undefined && checksum !== migration.checksum) throw changedError(migration);
    }
    return migrations.filter((migration) => !recorded.has(migration.version));
  });

  const applied: string[] = [];
  for (const migration of pending) {
    const didApply = await db.transaction(async (tx) => {
      await tx.query(LOCK);
      const checksum = await recordedChecksum(tx, migration.version);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) throw changedError(migration);
        return false;
      }
      try {
        await tx.query(migration.sql);
      } catch (err) {
        throw new Error(`migration ${migration.file} failed: ${(err as Error).message}`, { cause: err });
      }
      await tx.query(
        'insert into schema_migrations (version, name, checksum, applied_at) values ($1, $2, $3, $4)',
        [migration.version, migration.file, migration.checksum, Date.now()],
      );
      return true;
    });
    if (didApply) applied.push(migration.file);
  }
  return { applied };
}
