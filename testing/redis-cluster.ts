/**
 * A Redis Cluster of a test's (or the drill's) own: N masters, optionally a replica each, from the
 * `redis-server` binary on free loopback ports in a temp directory, without persistence, joined by
 * `redis-cli --cluster create`. Never touches the machine's shared Redis. `available()` says
 * whether the binaries are installed, so a test can skip with a message where they are not.
 */
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { freePort } from './cli.js';

const run = promisify(execFile);
const READY_TIMEOUT_MS = 30_000;
/** Redis gives a manual failover 5 s (CLUSTER_MF_TIMEOUT); after this long it is asked again. */
const MANUAL_FAILOVER_RETRY_MS = 6_000;

export interface RedisClusterOptions {
  /** Masters (default 3; Redis Cluster needs at least 3). */
  masters?: number;
  /** Replicas per master (default 0); `failover` needs at least 1. */
  replicasPerMaster?: number;
}

interface Node {
  port: number;
  child: ChildProcess;
}

/** Why a cluster cannot be started here, or undefined when it can. */
export function clusterUnavailable(): string | undefined {
  for (const binary of ['redis-server', 'redis-cli']) {
    const found = spawnSync(binary, ['--version'], { stdio: 'ignore' });
    if (found.error !== undefined || found.status !== 0) return `${binary} is not installed`;
  }
  return undefined;
}

/** `redis-cli … <command>` against one node, the reply as text. */
async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout;
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

export class RedisCluster {
  readonly #dir: string;
  readonly #nodes: Node[];
  readonly #masters: number;
  readonly #replicas: number;
  /** Node index (into #nodes) of the current master of each of the original master's slot ranges. */
  readonly #masterOf: number[];

  private constructor(dir: string, nodes: Node[], masters: number, replicas: number) {
    this.#dir = dir;
    this.#nodes = nodes;
    this.#masters = masters;
    this.#replicas = replicas;
    this.#masterOf = Array.from({ length: masters }, (_, i) => i);
  }

  /** Seed URLs, one per node: what `REDIS_CLUSTER_URLS` lists. */
  get urls(): string[] {
    return this.#nodes.map((node) => `redis://127.0.0.1:${node.port}`);
  }

  /** `REDIS_CLUSTER_URLS` as a process would be given it. */
  get envValue(): string {
    return this.urls.join(',');
  }

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicasPerMaster ?? 0;
    if (masters < 3) throw new RangeError(`a Redis Cluster needs at least 3 masters, got ${masters}`);
    const dir = await mkdtemp(join(tmpdir(), 'mdhub-redis-cluster-'));
    const nodes: Node[] = [];
    const cluster = new RedisCluster(dir, nodes, masters, replicas);
    try {
      for (let i = 0; i < masters * (1 + replicas); i++) {
        const port = await freePort();
        const child = spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--dir',
            dir,
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '2000',
            '--save',
            '',
            '--appendonly',
            'no',
            // Replicas sync at once instead of waiting 5 s for more replicas to share a transfer.
            '--repl-diskless-sync-delay',
            '0',
          ],
          { stdio: 'ignore' },
        );
        nodes.push({ port, child });
      }
      for (const node of nodes) await cluster.#waitPing(node.port);
      // redis-cli assigns the first `masters` addresses as masters and the rest as their replicas.
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ]);
      await cluster.#waitReady();
      await cluster.#learnMasters();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  async #waitPing(port: number): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      try {
        const client = await createClient({ url: `redis://127.0.0.1:${port}` }).connect();
        await client.close();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(20);
      }
    }
  }

  /** Every node says cluster_state:ok with all 16384 slots assigned and ok, and sees every node. */
  async #waitReady(): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const states = await Promise.all(
        this.#nodes.map(async (node) => {
          const info = await cli(node.port, 'CLUSTER', 'INFO').catch(() => '');
          const replication = await cli(node.port, 'INFO', 'replication').catch(() => '');
          // A replica still syncing would refuse a manual failover.
          const synced =
            field(replication, 'role') === 'master' || field(replication, 'master_link_status') === 'up';
          return (
            synced &&
            field(info, 'cluster_state') === 'ok' &&
            field(info, 'cluster_slots_ok') === '16384' &&
            field(info, 'cluster_known_nodes') === String(this.#nodes.length)
          );
        }),
      );
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok');
      await sleep(50);
    }
  }

  /** Which node is master of each original slot range, and which replicates it. */
  async #roles(): Promise<Array<{ index: number; master: boolean; masterPort?: number }>> {
    return Promise.all(
      this.#nodes.map(async (node, index) => {
        const info = await cli(node.port, 'INFO', 'replication');
        const master = field(info, 'role') === 'master';
        const masterPort = master ? undefined : Number(field(info, 'master_port'));
        return { index, master, masterPort };
      }),
    );
  }

  async #learnMasters(): Promise<void> {
    const roles = await this.#roles();
    const masters = roles.filter((r) => r.master).map((r) => r.index);
    masters.sort((a, b) => a - b);
    masters.forEach((index, i) => {
      this.#masterOf[i] = index;
    });
  }

  /** Port of the node currently master of the `masterIndex`th slot range. */
  masterPort(masterIndex: number): number {
    const index = this.#masterOf[masterIndex];
    if (index === undefined) throw new RangeError(`no master ${masterIndex}`);
    return (this.#nodes[index] as Node).port;
  }

  /**
   * A manual failover of the `masterIndex`th master (CLUSTER FAILOVER on one of its replicas):
   * the replica catches up, takes over the slots, and the old master becomes its replica.
   * Resolves once the roles have switched and every node says cluster_state:ok again.
   */
  async failover(masterIndex: number): Promise<void> {
    if (this.#replicas < 1) throw new Error('failover needs a cluster started with replicas');
    const oldPort = this.masterPort(masterIndex);
    const roles = await this.#roles();
    const replica = roles.find((r) => !r.master && r.masterPort === oldPort);
    if (replica === undefined) throw new Error(`master on port ${oldPort} has no replica`);
    const replicaPort = (this.#nodes[replica.index] as Node).port;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let asked = 0;
    for (let attempt = 0; ; ) {
      // Redis drops a manual failover it could not finish in 5 s (its election lost or late on a
      // loaded machine: CI saw one never complete), so one not done by then is asked for again.
      if (Date.now() - asked > MANUAL_FAILOVER_RETRY_MS) {
        // Refused once the replica leads (the old master may not say so yet): nothing to redo.
        if (attempt === 0) await cli(replicaPort, 'CLUSTER', 'FAILOVER');
        else await cli(replicaPort, 'CLUSTER', 'FAILOVER').catch(() => '');
        asked = Date.now();
        attempt++;
      }
      const info = await cli(replicaPort, 'INFO', 'replication').catch(() => '');
      const old = await cli(oldPort, 'INFO', 'replication').catch(() => '');
      if (field(info, 'role') === 'master' && field(old, 'role') === 'slave') break;
      if (Date.now() > deadline)
        throw new Error(`failover to port ${replicaPort} did not complete (asked ${attempt} times)`);
      await sleep(50);
    }
    await this.#waitReady();
    this.#masterOf[masterIndex] = replica.index;
  }

  /** Which master (index, as `failover` takes it) serves `key` now. */
  async masterIndexOf(key: string): Promise<number> {
    const port = this.masterPort(0);
    const client = await createClient({ url: `redis://127.0.0.1:${port}` }).connect();
    try {
      const slot = await client.clusterKeySlot(key);
      const ranges = await client.clusterSlots();
      const range = ranges.find((r) => r.from <= slot && slot <= r.to);
      const index = this.masterPorts.indexOf(range?.master.port ?? -1);
      if (index < 0) throw new Error(`no master serves slot ${slot} of ${key}`);
      return index;
    } finally {
      client.destroy();
    }
  }

  /** Ports of the current masters, in the order of their slot ranges. */
  get masterPorts(): number[] {
    return Array.from({ length: this.#masters }, (_, i) => this.masterPort(i));
  }

  /** Kills every node (SIGKILL: nothing to persist) and removes the temp directory. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#nodes.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }),
    );
    await rm(this.#dir, { recursive: true, force: true });
  }
}
