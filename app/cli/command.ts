import { type ParseArgsConfig, parseArgs } from 'node:util';

/** A failure the CLI reports as one line and a non-zero exit status, without a stack trace. */
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
