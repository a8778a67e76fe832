/**
 * A PostgreSQL server of one's own, for a drill or test that must stop and restart the database
 * under load: `initdb` into a temporary directory with the machine's PostgreSQL binaries
 * (`/usr/lib/postgresql/<version>/bin`), trust authentication, loopback only, on a free port. The
 * machine's shared server on 5432 is never touched. As root, the server runs as the `postgres`
 * user (PostgreSQL refuses to run as root).
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './cli.js';

const run = promisify(execFile);
const ROOT = '/usr/lib/postgresql';

/** The newest installed PostgreSQL's binaries, or undefined where none is installed. */
export function postgresBinDir(): string | undefined {
  if (!existsSync(ROOT)) return undefined;
  const versions = readdirSync(ROOT)
    .filter((name) => /^\d+$/.test(name) && existsSync(join(ROOT, name, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(ROOT, versions[0], 'bin');
}

/** Why a private server cannot be started here, or undefined when it can. */
export function privatePostgresUnavailable(): string | undefined {
  return postgresBinDir() === undefined
    ? `no PostgreSQL binaries under ${ROOT} (apt-get install postgresql)`
    : undefined;
}

export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  readonly port: number;
  /** Whether the server is up (as far as this handle knows). */
  readonly running: boolean;
  /** Stops the server as a crash would (`pg_ctl stop -m immediate`): connections cut, no checkpoint. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory, waiting until it accepts connections. */
  start(): Promise<void>;
  /** Stops it (if running) and removes its directory. */
  destroy(): Promise<void>;
  /** The end of the server's log, for a failure message. */
  tail(lines?: number): string;
}

interface Owner {
  uid: number;
  gid: number;
}

async function postgresUser(): Promise<Owner | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  return { uid, gid };
}

/** Starts a fresh server; `destroy` it when done. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error(privatePostgresUnavailable());
  const owner = await postgresUser();
  const dir = mkdtempSync(join(tmpdir(), 'mdhub-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  const as = (tool: string, args: string[]) =>
    owner
      ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { cwd: dir })
      : run(join(bin, tool), args, { cwd: dir });
  await as('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  // A crash of the server process (what `kill` does) must lose no acknowledged commit, as on a
  // real deployment: synchronous_commit stays on, so the WAL is written before a commit returns.
  // fsync and full-page writes guard against the machine crashing, which is not what is tested,
  // and off they keep a 2-core machine's disk out of the figures.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200`;
  let running = false;

  const start = async () => {
    await as('pg_ctl', ['-D', data, '-l', logFile, '-o', options, '-w', '-t', '30', 'start']);
    running = true;
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    get running() {
      return running;
    },
    async kill() {
      if (!running) return;
      await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      running = false;
    },
    async start() {
      if (running) return;
      // A crash leaves the old postmaster's pid file; pg_ctl start handles it, but the port may
      // linger a moment after the immediate stop.
      for (let attempt = 0; ; attempt++) {
        try {
          await start();
          return;
        } catch (error) {
          if (attempt >= 5) throw error;
          await sleep(200);
        }
      }
    },
    async destroy() {
      if (running) await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
    tail(lines = 20) {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
}
