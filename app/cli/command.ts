import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * A failure the command itself decides, reported as one line and an exit status without a stack:
 * a bad command line (2), or a refusal of its own (no tables yet, a hub holding the data
 * directory, an audit log that does not verify: 1). It stays apart from `DomainError` because an
 * exit status is the CLI's own vocabulary, and no module throws it.
 */
export class CliError extends Error {
  override name = 'CliError';

  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface Command {
  name: string;
  summary: string;
  /** Full `--help` text. */
  help: string;
  options: NonNullable<ParseArgsConfig['options']>;
  /** Resolves to the exit status. */
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<number>;
}

/** Parses a command's arguments strictly: unknown flags are an error with the command's usage. */
export function parseCommandArgs(command: Command, argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new CliError(`${(error as Error).message} (see mdhub ${command.name} --help)`, 2);
  }
}
