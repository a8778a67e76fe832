/**
 * The drill's Redis: by default a Redis Cluster of its own (3 masters, a replica each, from
 * testing/redis-cluster.ts), or with `--single-redis` one `redis-server` of its own. Either way the
 * machine's shared Redis on 6379 is never touched. Both give the hub processes their variable
 * (`REDIS_CLUSTER_URLS` or `REDIS_URL`), the drill a connection routed by key, and the faults
 * they share (refusing writes); each has the fault only it can suffer (a restart of the one
 * server, a master failover of the cluster).
 */
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, createCluster } from 'redis';
import { freePort, RedisCluster } from '../testing/index.js';
import { Child, spawnLogged } from './child.js';

/** The drill's own connection: each command goes to the node serving its key. */
export interface DrillRedisClient {
  command<T = unknown>(key: string, args: string[]): Promise<T>;
  quit(): Promise<void>;
}

export interface DrillRedisServer {
  readonly kind: 'single' | 'cluster';
  /** What every hub process is given to reach it. */
  readonly env: Record<string, string>;
  connect(): Promise<DrillRedisClient>;
  /**
   * Makes every node refuse every write that needs memory (`maxmemory 1`, policy `noeviction`:
   * each such command answers OOM), as a full Redis does; reads, acknowledgements and deletes
   * still work. Resolves to the undo, which restores the previous settings.
   */
  refuseWrites(): Promise<() => Promise<void>>;
  stop(): Promise<void>;
}

/** `refuseWrites` on the nodes at `urls`. */
async function refuseWritesOn(urls: readonly string[]): Promise<() => Promise<void>> {
  const undos = await Promise.all(
    urls.map(async (url) => {
      const admin = createClient({ url, RESP: 2 });
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
    }),
  );
  return async () => {
    await Promise.all(undos.map((undo) => undo()));
  };
}

/**
 * A `redis-server` of the drill's own. With `aof` it keeps an append-only file, as a deployment
 * must for a restart to keep the usage stream; with `none` a restart empties it.
 */
export class DrillRedis implements DrillRedisServer {
  readonly kind = 'single';
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

  get env(): Record<string, string> {
    return { REDIS_URL: this.url };
  }

  async connect(): Promise<DrillRedisClient> {
    const client = createClient({ url: this.url, RESP: 2, socket: { reconnectStrategy: () => 200 } });
    client.on('error', () => undefined);
    await client.connect();
    return {
      command: <T>(_key: string, args: string[]) => client.sendCommand(args) as Promise<T>,
      quit: async () => {
        await client.quit().catch(() => client.destroy());
      },
    };
  }

  stop(): Promise<void> {
    return this.child.stop();
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

  refuseWrites(): Promise<() => Promise<void>> {
    return refuseWritesOn([this.url]);
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

/**
 * A Redis Cluster of the drill's own: 3 masters with a replica each, on loopback ports, without
 * persistence (its fault is a failover, not a restart). The tick shards spread over the masters.
 */
export class DrillCluster implements DrillRedisServer {
  readonly kind = 'cluster';

  private constructor(readonly cluster: RedisCluster) {}

  static async start(): Promise<DrillCluster> {
    return new DrillCluster(await RedisCluster.start({ masters: 3, replicasPerMaster: 1 }));
  }

  get env(): Record<string, string> {
    return { REDIS_CLUSTER_URLS: this.cluster.envValue };
  }

  async connect(): Promise<DrillRedisClient> {
    const cluster = createCluster({
      rootNodes: this.cluster.urls.map((url) => ({ url })),
      defaults: { socket: { reconnectStrategy: () => 200 } },
      RESP: 2,
    });
    cluster.on('error', () => undefined);
    await cluster.connect();
    return {
      command: <T>(key: string, args: string[]) => cluster.sendCommand(key, false, args) as Promise<T>,
      quit: async () => {
        await cluster.close().catch(() => cluster.destroy());
      },
    };
  }

  refuseWrites(): Promise<() => Promise<void>> {
    return refuseWritesOn(this.cluster.urls);
  }

  /**
   * A manual failover (`CLUSTER FAILOVER` on its replica) of the master serving `key`: the replica
   * catches up, takes the slots, and the old master becomes its replica. Resolves once the roles
   * have switched and every node says `cluster_state:ok`.
   */
  async failoverMasterOf(
    key: string,
  ): Promise<{ from: number; to: number; startedAt: number; doneAt: number }> {
    const index = await this.cluster.masterIndexOf(key);
    const from = this.cluster.masterPort(index);
    const startedAt = Date.now();
    await this.cluster.failover(index);
    return { from, to: this.cluster.masterPort(index), startedAt, doneAt: Date.now() };
  }

  stop(): Promise<void> {
    return this.cluster.stop();
  }
}
