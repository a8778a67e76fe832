import { migrate } from '../../platform/db/index.js';
import type { Command } from './command.js';
import { loadEnvironment } from './environment.js';
import { openDatabase } from './reach.js';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'apply pending database migrations',
  options: {},
  help: `Usage: mdhub migrate

Applies the SQL migrations not yet applied to the database (DATABASE_URL, or the embedded
PGlite under MDHUB_DATA_DIR), in order, each in its own transaction, and prints what it applied.
Safe to run any number of times and from several processes at once. 'mdhub start' does the same
on boot. Refused while a hub (or another command) holds the embedded database under
MDHUB_DATA_DIR.`,
  async run() {
    const { env, logger } = loadEnvironment();
    // A running hub migrated its database on boot; there is no admin route to do it through.
    const db = await openDatabase(env, logger, 'mdhub migrate');
    try {
      const { applied } = await migrate(db);
      process.stdout.write(applied.length ? `applied ${applied.join(', ')}\n` : 'database is up to date\n');
      return 0;
    } finally {
      await db.close();
    }
  },
};
