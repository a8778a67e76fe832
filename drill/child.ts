/**
 * A child process of the drill and its log file: started, signalled, restarted with the same
 * command, and its last lines read back when a check fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** One child process and its log. */
export class Child {
  readonly #spawnIt: () => ChildProcess;
  #process: ChildProcess;
  #exit: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly logFile: string,
    spawnIt: () => ChildProcess,
  ) {
    this.#spawnIt = spawnIt;
    this.#process = spawnIt();
    this.#exit = exitOf(this.#process);
  }

  get pid(): number {
    return this.#process.pid ?? -1;
  }

  get running(): boolean {
    return this.#process.exitCode === null && this.#process.signalCode === null;
  }

  /** Sends `signal` and waits until the process is gone. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.#process.kill(signal);
    await this.#exit;
  }

  /** Stops it cleanly, or kills it if it takes longer than `graceMs`. */
  async stop(graceMs = 6_000): Promise<void> {
    if (!this.running) return;
    this.#process.kill('SIGTERM');
    const stopped = await Promise.race([this.#exit.then(() => true), sleep(graceMs, false)]);
    if (!stopped) await this.kill('SIGKILL');
  }

  /** Starts the same command again, logging to the same file. */
  restart(): void {
    this.#process = this.#spawnIt();
    this.#exit = exitOf(this.#process);
  }

  /** The last `lines` lines it logged. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8')
        .split('\n')
        .slice(-lines - 1)
        .join('\n');
    } catch {
      return '';
    }
  }
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** Spawns `command` with stdout and stderr appended to `logFile`. */
export function spawnLogged(
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv,
): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(command, args, { env, stdio: ['ignore', fd, fd] });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}
