/**
 * The scaled deployment on one machine, as real processes: a Redis of the drill's own (the
 * machine's shared Redis on 6379 is never restarted), a fresh PostgreSQL schema, and the built
 * CLI started once per role. Every child logs to a file under the drill's temporary directory, so
 * a failure can show what the process said without flooding the terminal.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { type Db, openDb } from '../platform/db/index.js';
import { freePort, MDHUB_BIN, waitForOk } from '../testing/index.js';

export interface TopologyOptions {
  /** Working directory for logs, the Redis append-only file and the hub's data dir. */
  dir: string;
  /** PostgreSQL server URL (without a schema); the drill works in a schema of its own. */
  postgresUrl: string;
  /** Environment every hub process gets on top of the topology's own. */
  env: Record<string, string>;
  /** Whether Redis keeps its data across a restart (append-only file) or loses it. */
  redisPersistence: 'aof' | 'none';
}

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
function spawnLogged(command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(command, args, { env, stdio: ['ignore', fd, fd] });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd);
  }
}

/**
 * A `redis-server` of the drill's own. With `aof` it keeps an append-only file, as a deployment
 * must for a restart to keep the usage stream; with `none` a restart empties it.
 */
export class DrillRedis {
  readonly url: string;
  readonly child: Child;

  private constructor(
    readonly port: number,
    dir: string,
    persistence: 'aof' | 'none',
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    const dataDir = join(dir, 'redis');
    mkdirSync(dataDir, { recursive: true });
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dataDir,
      '--save',
      '',
      '--appendonly',
      persistence === 'aof' ? 'yes' : 'no',
      '--appendfsync',
      'everysec',
      '--daemonize',
      'no',
    ];
    const logFile = join(dir, 'redis.log');
    this.child = new Child('redis', logFile, () => spawnLogged('redis-server', args, logFile, process.env));
  }

  static async start(dir: string, persistence: 'aof' | 'none'): Promise<DrillRedis> {
    const redis = new DrillRedis(await freePort(), dir, persistence);
    await redis.waitUp();
    return redis;
  }

  /** Resolves once the server answers PING. */
  async waitUp(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await ping(this.port))) {
      if (Date.now() > deadline)
        throw new Error(`redis on ${this.port} did not start:\n${this.child.tail()}`);
      await sleep(20);
    }
  }

  /**
   * Makes the server refuse every write that needs memory (`maxmemory 1`, policy `noeviction`:
   * each such command answers OOM), as a full Redis does; reads, acknowledgements and deletes
   * still work. Resolves to the undo, which restores the previous settings.
   */
  async refuseWrites(): Promise<() => Promise<void>> {
    const admin = createClient({ url: this.url, RESP: 2 });
    admin.on('error', () => undefined);
    await admin.connect();
    const get = async (name: string) =>
      ((await admin.sendCommand(['CONFIG', 'GET', name])) as string[])[1] ?? '';
    const before = { maxmemory: await get('maxmemory'), policy: await get('maxmemory-policy') };
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']);
    await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1']);
    return async () => {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', before.maxmemory || '0']);
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory-policy', before.policy || 'noeviction']);
      await admin.quit();
    };
  }

  /**
   * SIGKILL, then the same server again on the same port and files; resolves when it answers.
   * `whileDown` starts once the server is gone and is not waited for.
   */
  async crashAndRestart(downMs: number, whileDown: () => void): Promise<{ killedAt: number; upAt: number }> {
    const killedAt = Date.now();
    await this.child.kill('SIGKILL');
    whileDown();
    await sleep(downMs);
    this.child.restart();
    await this.waitUp();
    return { killedAt, upAt: Date.now() };
  }
}

/** Whether a Redis answers PING on `port` (raw RESP, no client library state to reset). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export type HubRole = 'ingest' | 'edge' | 'meter' | 'api';

/** One `mdhub start --roles …` process. */
export class HubProcess extends Child {
  constructor(
    name: string,
    readonly role: HubRole,
    readonly port: number,
    logFile: string,
    env: NodeJS.ProcessEnv,
  ) {
    super(name, logFile, () =>
      spawnLogged(process.execPath, [MDHUB_BIN, 'start', '--roles', role], logFile, env),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    try {
      await waitForOk(`${this.url}/healthz`, timeoutMs);
    } catch (error) {
      throw new Error(`${this.name} did not start: ${(error as Error).message}\n${this.tail()}`);
    }
  }

  /** One metric's value from `/metrics` (the sum over its series matching `labels`), or undefined. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    let text: string;
    try {
      const res = await fetch(`${this.url}/metrics`);
      text = await res.text();
    } catch {
      return undefined;
    }
    let sum: number | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(value)) sum = (sum ?? 0) + value;
    }
    return sum;
  }
}

/** The whole scaled deployment. */
export class Topology {
  readonly adminToken = `mdo_drill_${randomBytes(18).toString('base64url')}`;
  readonly prefix = `drill_${process.pid}_${randomBytes(3).toString('hex')}`;
  readonly schema = this.prefix;
  readonly databaseUrl: string;
  readonly ingest: HubProcess[] = [];
  readonly edges: HubProcess[] = [];
  readonly meters: HubProcess[] = [];
  api: HubProcess | undefined;
  readonly #options: TopologyOptions;
  readonly #redis: DrillRedis;
  #db: Db | undefined;

  private constructor(options: TopologyOptions, redis: DrillRedis) {
    this.#options = options;
    this.#redis = redis;
    const url = new URL(options.postgresUrl);
    url.searchParams.set('options', `-c search_path=${this.schema}`);
    this.databaseUrl = url.toString();
  }

  static async start(options: TopologyOptions): Promise<Topology> {
    mkdirSync(join(options.dir, 'data'), { recursive: true });
    const topology = new Topology(options, await DrillRedis.start(options.dir, options.redisPersistence));
    try {
      // The schema must exist before processes whose search_path names it run migrations.
      topology.#db = await openDb({ url: options.postgresUrl, schema: topology.schema });
      topology.api = await topology.#spawn('api', 'api');
      await topology.api.waitHealthy();
      const rest: HubProcess[] = [];
      for (const name of ['ingest-1', 'ingest-2'])
        rest.push(await topology.#add(topology.ingest, name, 'ingest'));
      for (const name of ['edge-a', 'edge-b']) rest.push(await topology.#add(topology.edges, name, 'edge'));
      for (const name of ['meter-1', 'meter-2'])
        rest.push(await topology.#add(topology.meters, name, 'meter'));
      await Promise.all(rest.map((p) => p.waitHealthy()));
      return topology;
    } catch (error) {
      await topology.stop();
      throw error;
    }
  }

  get redis(): DrillRedis {
    return this.#redis;
  }

  /** The drill's own connection to the hub's database (its schema). */
  get db(): Db {
    if (this.#db === undefined) throw new Error('the topology is not started');
    return this.#db;
  }

  /** A second connection of the drill's own to the hub's database, for a fault that holds locks. */
  async openDb(): Promise<Db> {
    return openDb({ url: this.#options.postgresUrl, schema: this.schema, poolSize: 1 });
  }

  get processes(): HubProcess[] {
    return [...(this.api ? [this.api] : []), ...this.ingest, ...this.edges, ...this.meters];
  }

  /** The environment a hub process (or a CLI command) of this deployment runs with. */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? '',
      MDHUB_LOG_LEVEL: 'warn',
      ...this.#options.env,
      REDIS_URL: this.#redis.url,
      DATABASE_URL: this.databaseUrl,
      MDHUB_REDIS_PREFIX: this.prefix,
      MDHUB_DATA_DIR: join(this.#options.dir, 'data'),
      MDHUB_ADMIN_TOKEN: this.adminToken,
      HOST: '127.0.0.1',
      ...extra,
    };
  }

  /** The ingest process holding the feed lease now, if one does. */
  async ingestLeader(): Promise<HubProcess | undefined> {
    for (const p of this.ingest) {
      if (p.running && (await p.metric('mdhub_ingest_leader')) === 1) return p;
    }
    return undefined;
  }

  /** Stops every process (SIGTERM, then SIGKILL), drops the schema. */
  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
    await this.#redis.child.stop();
    if (this.#db) {
      await this.#db.query(`drop schema if exists "${this.schema}" cascade`).catch(() => undefined);
      await this.#db.close();
    }
  }

  async #add(list: HubProcess[], name: string, role: HubRole): Promise<HubProcess> {
    const p = await this.#spawn(name, role);
    list.push(p);
    return p;
  }

  async #spawn(name: string, role: HubRole): Promise<HubProcess> {
    const port = await freePort();
    const extra: Record<string, string> = { PORT: String(port) };
    if (role === 'edge') extra.MDHUB_EDGE_ID = `drill-${name}`;
    return new HubProcess(name, role, port, join(this.#options.dir, `${name}.log`), this.env(extra));
  }
}
