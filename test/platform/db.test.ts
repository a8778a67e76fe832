import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, openDb, type Tx } from '../../platform/db/index.js';
import { createLogger } from '../../platform/logger.js';
import { forEachDb, openTestDb, TEST_DATABASE_URL, type TestDb } from '../helpers/db.js';

const tempDirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mdhub-db-'));
  tempDirs.push(dir);
  return dir;
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
}

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

forEachDb((engine, getDb) => {
  beforeAll(async () => {
    await getDb().query(
      'create table t_counter (id int primary key, n int8 not null); insert into t_counter values (1, 0); ' +
        'create table t_item (id int primary key, label text not null, price numeric(12, 2))',
    );
  });

  it('binds query parameters', async () => {
    const { rows } = await getDb().query<{ greeting: string }>('select $1::text || $2::text as greeting', [
      'hello ',
      'world',
    ]);
    expect(rows).toEqual([{ greeting: 'hello world' }]);
  });

  it.runIf(engine === 'postgres')('works inside its own schema on every pooled connection', async () => {
    const db = getDb();
    const schemas = await Promise.all(
      Array.from({ length: 5 }, () =>
        db.transaction(
          async (tx) => (await tx.query<{ s: string }>('select current_schema() as s')).rows[0]?.s,
        ),
      ),
    );
    expect(new Set(schemas).size).toBe(1);
    expect(schemas[0]).toMatch(/^t_(r[0-9a-z]+_)?\d+_[0-9a-f]{8}$/);
  });

  it('returns int8 as a number and numeric as a string', async () => {
    const { rows } = await getDb().query(
      'select $1::int8 as at, 12.50::numeric(12, 2) as fee, count(*) as n',
      [1_767_225_600_000],
    );
    expect(rows).toEqual([{ at: 1_767_225_600_000, fee: '12.50', n: 1 }]);
  });

  it('returns int8[] as numbers and numeric[] as strings', async () => {
    const { rows } = await getDb().query(
      "select '{1,NULL,3}'::int8[] as ids, '{{1,2},{3,4}}'::int8[] as grid, '{0.10,NULL}'::numeric[] as fees",
    );
    expect(rows).toEqual([
      {
        ids: [1, null, 3],
        grid: [
          [1, 2],
          [3, 4],
        ],
        fees: ['0.10', null],
      },
    ]);
  });

  it('refuses an int8 too large for a JS number instead of rounding it', async () => {
    await expect(getDb().query('select 9007199254740993::int8 as n')).rejects.toThrow(/does not fit/);
    await getDb().ping();
  });

  it('reports how many rows a statement changed', async () => {
    const db = getDb();
    await db.query("insert into t_item values (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)");
    const result = await db.query('update t_item set price = price + $1 where id >= $2', [1, 2]);
    expect(result.rowCount).toBe(2);
  });

  it('commits the work of a transaction that resolves, and returns its value', async () => {
    const db = getDb();
    const value = await db.transaction(async (tx) => {
      await tx.query("insert into t_item values (10, 'committed', null)");
      return 'done';
    });
    expect(value).toBe('done');
    const { rows } = await db.query('select label from t_item where id = 10');
    expect(rows).toEqual([{ label: 'committed' }]);
  });

  it('rolls back a transaction that throws and rethrows its error', async () => {
    const db = getDb();
    const failure = new Error('boom');
    await expect(
      db.transaction(async (tx) => {
        await tx.query("insert into t_item values (11, 'rolled back', null)");
        throw failure;
      }),
    ).rejects.toBe(failure);
    const { rowCount } = await db.query('select 1 from t_item where id = 11');
    expect(rowCount).toBe(0);
  });

  it('rolls back a transaction whose statement fails, and stays usable', async () => {
    const db = getDb();
    await expect(
      db.transaction(async (tx) => {
        await tx.query("insert into t_item values (12, 'first', null)");
        await tx.query("insert into t_item values (12, 'duplicate', null)");
      }),
    ).rejects.toThrow(/duplicate key/);
    expect((await db.query('select 1 from t_item where id = 12')).rowCount).toBe(0);
    await db.ping();
  });

  it('serialises 20 concurrent read-modify-write transactions', async () => {
    const db = getDb();
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          const { rows } = await tx.query<{ n: number }>('select n from t_counter where id = 1 for update');
          await tx.query('update t_counter set n = $1 where id = 1', [(rows[0]?.n ?? 0) + 1]);
        }),
      ),
    );
    const { rows } = await db.query('select n from t_counter where id = 1');
    expect(rows).toEqual([{ n: 20 }]);
  });

  it('keeps a query issued during an open transaction out of it', async () => {
    const db = getDb();
    let reachedInsert!: () => void;
    const inserted = new Promise<void>((resolve) => {
      reachedInsert = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const rolledBack = db.transaction(async (tx) => {
      await tx.query("insert into t_item values (20, 'inside', null)");
      reachedInsert();
      await released;
      throw new Error('roll back');
    });
    await inserted;
    const outside = db.query("insert into t_item values (21, 'outside', null)");
    release();
    await expect(rolledBack).rejects.toThrow('roll back');
    await outside;
    const { rows } = await db.query('select id from t_item where id in (20, 21) order by id');
    expect(rows).toEqual([{ id: 21 }]);
  });

  it('answers a prepared statement as any other, on every pooled connection and after its table changes', async () => {
    const db = getDb();
    await db.query(
      "create table t_prepared (id int primary key, label text not null); insert into t_prepared values (1, 'one')",
    );
    const sql = 'select id, label from t_prepared where id = any($1::int[]) order by id';
    const read = (tx: Tx = db) => tx.query<{ id: number; label: string }>(sql, [[1, 2]], { prepare: true });
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => db.transaction(async (tx) => (await read(tx)).rows)),
    );
    expect(answers).toEqual(Array.from({ length: 12 }, () => [{ id: 1, label: 'one' }]));
    if (engine === 'postgres') {
      // Parsed once on the connection, then only bound.
      const kept = await db.transaction(async (tx) => {
        await read(tx);
        await read(tx);
        return tx.query('select 1 from pg_prepared_statements where statement = $1', [sql]);
      });
      expect(kept.rowCount).toBe(1);
    }
    await db.query(
      "alter table t_prepared add column note text; insert into t_prepared values (2, 'two', 'new')",
    );
    expect((await read()).rows).toEqual([
      { id: 1, label: 'one' },
      { id: 2, label: 'two' },
    ]);
    await expect(
      db.query('select nothing from t_prepared where id = $1', [1], { prepare: true }),
    ).rejects.toThrow(/nothing/);
    expect(
      (
        await db.query<{ n: number }>('select count(*)::int as n from t_prepared where id > $1', [0], {
          prepare: true,
        })
      ).rows,
    ).toEqual([{ n: 2 }]);
  });

  it('refuses a transaction handle used after the transaction ended', async () => {
    const db = getDb();
    let leaked: Tx | undefined;
    await db.transaction(async (tx) => {
      leaked = tx;
    });
    await expect(leaked?.query('select 1')).rejects.toThrow(/closed/i);
  });

  it.runIf(engine === 'pglite')(
    'fails, rather than deadlocks, when the db is used inside its own transaction',
    async () => {
      const db = getDb();
      await expect(db.transaction(() => db.query('select 1'))).rejects.toThrow(/use the tx handle/);
      await db.ping();
    },
  );

  it.runIf(engine === 'postgres')(
    'survives connections killed by the server, idle or mid-transaction',
    async () => {
      const lines: string[] = [];
      const logger = createLogger({
        level: 'error',
        destination: { write: (line: string) => lines.push(line) },
      });
      const db = await openDb({ url: TEST_DATABASE_URL, poolSize: 2, logger });
      const killer = getDb();
      const waitForLog = async (count: number) => {
        for (let i = 0; i < 100 && lines.length < count; i++) await new Promise((r) => setTimeout(r, 20));
        expect(lines).toHaveLength(count);
      };
      try {
        const idle = await db.query<{ pid: number }>('select pg_backend_pid() as pid');
        await killer.query('select pg_terminate_backend($1)', [idle.rows[0]?.pid]);
        await waitForLog(1);

        await expect(
          db.transaction(async (tx) => {
            const own = await tx.query<{ pid: number }>('select pg_backend_pid() as pid');
            await killer.query('select pg_terminate_backend($1)', [own.rows[0]?.pid]);
            await waitForLog(2);
            await tx.query('select 1');
          }),
        ).rejects.toThrow();

        await db.ping();
        expect(lines.join('')).toContain('terminating connection');
        expect(lines.join('')).not.toMatch(/postgres:\/\/|connectionParameters/);
      } finally {
        await db.close();
      }
    },
  );

  it('rejects a schema name that is not a plain identifier', async () => {
    await expect(openDb({ url: 'postgres://127.0.0.1/test', schema: 'a"; drop' })).rejects.toThrow(
      /invalid schema name/,
    );
    await expect(openDb({ schema: 'Upper' })).rejects.toThrow(/invalid schema name/);
  });

  it('has applied every file of the project migrations folder, and re-running applies nothing', async () => {
    const db = getDb();
    const files = (await readdir(join(import.meta.dirname, '../../migrations'))).filter((f) =>
      f.endsWith('.sql'),
    );
    const { rows } = await db.query<{ name: string }>('select name from schema_migrations order by version');
    expect(rows.map((row) => row.name)).toEqual(files.sort());
    expect(await migrate(db)).toEqual({ applied: [] });
  });

  it.runIf(engine === 'pglite')('keeps a file-backed database, in its schema, across reopening', async () => {
    const dataDir = join(await tempDir(), 'nested', 'pgdata');
    const first = await openDb({ dataDir, schema: 'app' });
    try {
      await first.query("create table kept (v text); insert into kept values ('still here')");
    } finally {
      await first.close();
    }
    const second = await openDb({ dataDir, schema: 'app' });
    try {
      const { rows } = await second.query('select current_schema() as s, (select v from kept) as v');
      expect(rows).toEqual([{ s: 'app', v: 'still here' }]);
    } finally {
      await second.close();
    }
  });

  describe('migrations', () => {
    let raw: TestDb;
    let dir: string;
    const files = {
      '0010_c.sql': "insert into mig_log (file) values ('c');",
      '0001_a.sql':
        "create table mig_log (seq serial primary key, file text not null);\ninsert into mig_log (file) values ('a');",
      '0002_b.sql':
        "-- a comment first\ninsert into mig_log (file) values ('b');\ncreate table from_b (id int);",
      'README.md': 'not a migration',
    };

    beforeAll(async () => {
      raw = await openTestDb(engine, { migrated: false });
      dir = await tempDir();
      await writeFiles(dir, files);
    });
    afterAll(async () => {
      await raw?.cleanup();
    });

    it('applies files in numeric order, each recorded', async () => {
      const before = Date.now();
      expect(await migrate(raw.db, { dir })).toEqual({ applied: ['0001_a.sql', '0002_b.sql', '0010_c.sql'] });
      const log = await raw.db.query<{ file: string }>('select file from mig_log order by seq');
      expect(log.rows.map((row) => row.file)).toEqual(['a', 'b', 'c']);
      const { rows } = await raw.db.query<{
        version: number;
        name: string;
        checksum: string;
        applied_at: number;
      }>('select version, name, checksum, applied_at from schema_migrations order by version');
      expect(rows.map((row) => [row.version, row.name])).toEqual([
        [1, '0001_a.sql'],
        [2, '0002_b.sql'],
        [10, '0010_c.sql'],
      ]);
      for (const row of rows) {
        expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
        expect(row.applied_at).toBeGreaterThanOrEqual(before);
      }
    });

    it('applies nothing when run again', async () => {
      expect(await migrate(raw.db, { dir })).toEqual({ applied: [] });
      expect((await raw.db.query('select 1 from mig_log')).rowCount).toBe(3);
    });

    it('fails, naming the file, when an applied migration was edited', async () => {
      await writeFile(join(dir, '0002_b.sql'), "insert into mig_log (file) values ('B');");
      try {
        await expect(migrate(raw.db, { dir })).rejects.toThrow(/0002_b\.sql was changed/);
      } finally {
        await writeFile(join(dir, '0002_b.sql'), files['0002_b.sql']);
      }
    });

    it('leaves no trace of a failing migration and applies it once fixed', async () => {
      const bad =
        "create table half_done (id int);\ninsert into mig_log (file) values ('bad');\nselect 1 / 0;";
      await writeFiles(dir, { '0011_bad.sql': bad, '0012_after.sql': 'create table after_bad (id int);' });
      await expect(migrate(raw.db, { dir })).rejects.toThrow(/0011_bad\.sql failed: division by zero/);
      const { rows } = await raw.db.query(
        "select to_regclass('half_done') is null as no_table, to_regclass('after_bad') is null as not_after, " +
          "(select count(*) from mig_log where file = 'bad') as logged, " +
          '(select count(*) from schema_migrations where version >= 11) as recorded',
      );
      expect(rows).toEqual([{ no_table: true, not_after: true, logged: 0, recorded: 0 }]);

      await writeFile(join(dir, '0011_bad.sql'), 'create table half_done (id int);');
      expect(await migrate(raw.db, { dir })).toEqual({ applied: ['0011_bad.sql', '0012_after.sql'] });
    });

    it('rejects a file name that does not follow NNNN_name.sql', async () => {
      const odd = await tempDir();
      await writeFiles(odd, { '1_short.sql': 'select 1;' });
      await expect(migrate(raw.db, { dir: odd })).rejects.toThrow(/1_short\.sql: name must look like/);
    });

    it('applies each file once when two migrators start at once', async () => {
      const fresh = await openTestDb(engine, { migrated: false });
      // PostgreSQL: two pools, as two processes would have; PGlite has one connection per data dir.
      const other =
        engine === 'postgres' ? await openTestDb(engine, { migrated: false, schema: fresh.schema }) : fresh;
      try {
        const racing = await tempDir();
        await writeFiles(racing, {
          '0001_one.sql': 'create table race_one (id int);',
          '0002_two.sql': 'create table race_two (id int);',
          '0003_three.sql': 'create table race_three (id int);',
        });
        const results = await Promise.all([
          migrate(fresh.db, { dir: racing }),
          migrate(other.db, { dir: racing }),
        ]);
        expect(results.flatMap((result) => result.applied).sort()).toEqual([
          '0001_one.sql',
          '0002_two.sql',
          '0003_three.sql',
        ]);
      } finally {
        if (other !== fresh) await other.db.close();
        await fresh.cleanup();
      }
    });
  });
});
