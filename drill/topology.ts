/**
 * The scaled deployment on one machine, as real processes: a Redis Cluster (or one Redis) of the
 * drill's own (the machine's shared Redis on 6379 is never restarted), a fresh PostgreSQL schema,
 * and the built CLI started once per role. Every child logs to a file under the drill's temporary
 * directory, so a failure can show what the process said without flooding the terminal.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Db, openDb } from '../platform/db/index.js';
import { freePort, MDHUB_BIN, waitForOk } from '../testing/index.js';
import { Child, spawnLogged } from './child.js';
import { DrillCluster, DrillRedis, type DrillRedisServer } from './redis.js';

export interface TopologyOptions {
  /** Working directory for logs, the Redis append-only file and the hub's data dir. */
  dir: string;
  /** PostgreSQL server URL (without a schema); the drill works in a schema of its own. */
  postgresUrl: string;
  /** Environment every hub process gets on top of the topology's own. */
  env: Record<string, string>;
  /** A Redis Cluster (3 masters, a replica each) or one Redis server. */
  redis: 'cluster' | 'single';
  /** Whether the single Redis keeps its data across a restart (append-only file) or loses it. */
  redisPersistence: 'aof' | 'none';
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
  readonly #redis: DrillRedisServer;
  #db: Db | undefined;

  private constructor(options: TopologyOptions, redis: DrillRedisServer) {
    this.#options = options;
    this.#redis = redis;
    const url = new URL(options.postgresUrl);
    url.searchParams.set('options', `-c search_path=${this.schema}`);
    this.databaseUrl = url.toString();
  }

  static async start(options: TopologyOptions): Promise<Topology> {
    mkdirSync(join(options.dir, 'data'), { recursive: true });
    const redis =
      options.redis === 'cluster'
        ? await DrillCluster.start()
        : await DrillRedis.start(options.dir, options.redisPersistence);
    const topology = new Topology(options, redis);
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

  get redis(): DrillRedisServer {
    return this.#redis;
  }

  /** The one Redis server, when the drill runs on one (`--single-redis`). */
  get singleRedis(): DrillRedis | undefined {
    return this.#redis instanceof DrillRedis ? this.#redis : undefined;
  }

  /** The Redis Cluster, when the drill runs on one (the default). */
  get cluster(): DrillCluster | undefined {
    return this.#redis instanceof DrillCluster ? this.#redis : undefined;
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
      ...this.#redis.env,
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
    await this.#redis.stop();
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
