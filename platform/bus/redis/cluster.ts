/**
 * The shared connection on a Redis Cluster: node-redis's cluster client, started from seed nodes,
 * routing each command by its first key and following MOVED after a failover (it then reloads the
 * slot map). Every key of the bus carries a hash tag and every command and Lua script touches one
 * key, so no command ever spans slots; pipelines are split per command (node-redis still writes
 * what goes to one node in one batch).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createCluster } from 'redis';
import type { Logger } from '../../logger.js';
import {
  type Arg,
  BUFFERS,
  type Client,
  type Redis,
  reconnectDelay,
  type SendOptions,
  shutdown,
} from './connection.js';

function newCluster(urls: readonly string[], name: string) {
  return createCluster({
    rootNodes: urls.map((url) => ({ url })),
    defaults: { name, socket: { reconnectStrategy: reconnectDelay } },
    RESP: 2,
  });
}
type ClusterClient = ReturnType<typeof newCluster>;

export class ClusterRedis implements Redis {
  readonly cluster = true;
  readonly #cluster: ClusterClient;

  constructor(cluster: ClusterClient) {
    this.#cluster = cluster;
  }

  get isReady(): boolean {
    return this.#cluster.isReady;
  }

  send<T>(key: string | undefined, args: Arg[], options: SendOptions = {}): Promise<T> {
    return this.#cluster.sendCommand<T>(
      key,
      false,
      args,
      options.buffers ? { typeMapping: BUFFERS } : undefined,
    );
  }

  pipeline(commands: ReadonlyArray<{ key: string; args: Arg[] }>): Promise<unknown[]> {
    return Promise.all(commands.map(({ key, args }) => this.send(key, args)));
  }

  async ping(): Promise<void> {
    const masters = this.#cluster.masters;
    if (masters.length === 0) throw new Error('no Redis Cluster master known');
    await Promise.all(masters.map(async (master) => (await this.#cluster.nodeClient(master)).ping()));
  }

  async nodeConnection(key: string, name: string): Promise<Client> {
    // A keyed command first: if the slot map is stale (a failover just happened), its MOVED makes
    // the cluster client reload it, so the connection goes to the key's master of now.
    await this.send(key, ['EXISTS', key]);
    const node = await this.#cluster.getNodeClientForKey(key);
    return node.duplicate({ name }) as unknown as Client;
  }

  close(): Promise<void> {
    return shutdown(this.#cluster);
  }
}

/**
 * Connects to the cluster through the first seed node that answers, retrying for `retryMs`
 * (Infinity: until one does); rejects with the last error past that.
 */
export async function connectCluster(
  urls: readonly string[],
  name: string,
  retryMs: number,
  logger: Logger,
): Promise<ClusterRedis> {
  const cluster = newCluster(urls, name);
  // Unhandled, these events would crash the process; connection loss is reported by readiness.
  cluster.on('error', (err: unknown) => logger.debug({ err }, 'redis cluster error'));
  cluster.on('node-error', (err: unknown, node: unknown) =>
    logger.debug({ err, node }, 'redis cluster node connection lost, reconnecting'),
  );
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      await cluster.connect();
      return new ClusterRedis(cluster);
    } catch (err) {
      if (Date.now() - started >= retryMs) {
        cluster.destroy();
        throw err;
      }
      await sleep(reconnectDelay(attempt));
    }
  }
}
