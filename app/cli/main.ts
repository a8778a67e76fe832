import { ConfigError } from '../../config/index.js';
import { DomainError } from '../../platform/errors.js';
import { auditCommand } from './audit.js';
import { CliError, type Command, parseCommandArgs } from './command.js';
import { migrateCommand } from './migrate.js';
import { reconcileCommand } from './reconcile.js';
import { reportCommand } from './report.js';
import { startCommand } from './start.js';

export { CliError, type Command } from './command.js';

const COMMANDS: readonly Command[] = [
  startCommand,
  migrateCommand,
  auditCommand,
  reportCommand,
  reconcileCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: mdhub <command> [options]

mdhub ingests one market-data feed, republishes it per user entitlement and meters every
real-time display for the exchanges' usage reports.

Commands:
${lines.join('\n')}

Run 'mdhub <command> --help' for a command's options. Configuration is by environment
variable; see the README.`;
}

/**
 * Runs the CLI and resolves to the exit status. Failures print one line, `mdhub: <reason>`, on
 * stderr; only an unexpected error prints its stack. This is the CLI's one error mapping: a
 * module's `DomainError`, whatever its kind, and a configuration error exit 1; 2 means a bad
 * command line, which only the CLI's own `CliError` reports.
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  try {
    if (!command) throw new CliError(`unknown command '${name}'; run 'mdhub --help'`, 2);
    const { values, positionals } = parseCommandArgs(command, rest);
    if (values.help) {
      process.stdout.write(`${command.help}\n`);
      return 0;
    }
    return await command.run(values, positionals);
  } catch (error) {
    if (error instanceof CliError || error instanceof DomainError || error instanceof ConfigError) {
      process.stderr.write(`mdhub: ${error.message}\n`);
      return error instanceof CliError ? error.exitCode : 1;
    }
    process.stderr.write(`mdhub: ${(error as Error).message ?? String(error)}\n`);
    if (process.env.MDHUB_LOG_LEVEL === 'debug') process.stderr.write(`${(error as Error).stack}\n`);
    return 1;
  }
}
