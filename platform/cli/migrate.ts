import { migrate, openConfiguredDb } from '../db/index.js';
import type { Command } from './command.js';
import { loadEnvironment } from './environment.js';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'apply pending database migrations',
  options: {},
  help: `Usage: mdhub migrate

Applies the SQL migrations not yet applied to the database (DATABASE_URL, or the embedded
PGlite under MDHUB_DATA_DIR), in order, each in its own transaction, and prints what it applied.
Safe to run any number of times and from several processes at once. 'mdhub start' does the same
on boot.`,
  async run() {
    const { env, logger } = loadEnvironment();
    const db = await openConfiguredDb(env, { logger });
    try {
      const { applied } = await migrate(db);
      process.stdout.write(applied.length ? `applied ${applied.join(', ')}\n` : 'database is up to date\n');
      return 0;
    } finally {
      await db.close();
    }
  },
};
