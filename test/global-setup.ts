/**
 * Once per `npm test`: names this run, so every schema the tests create carries the name
 * (`uniqueName`, `uniqueSchema`), and drops what is left of them at the end — a test that failed
 * half-way, or dropped its schema through a hub it had already stopped, leaves nothing behind in
 * the shared `test` database. Other runs' schemas (a second `npm test` beside this one) are never
 * touched.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function setup(): () => Promise<void> {
  const run = randomBytes(3).toString('hex');
  process.env.MDHUB_TEST_RUN = run;
  return async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    try {
      await client.connect();
      const { rows } = await client.query<{ name: string }>(
        'select nspname as name from pg_namespace where nspname like $1',
        [`%\\_r${run}\\_%`],
      );
      for (const { name } of rows) await client.query(`drop schema if exists "${name}" cascade`);
    } catch (error) {
      process.stderr.write(`test teardown: could not drop this run's schemas: ${(error as Error).message}\n`);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
}
