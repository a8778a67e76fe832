/**
 * A connection of a reader's own, for blocking reads of `key` (a blocking read holds its connection
 * until it returns, so it never goes over the shared one). On one node it is a duplicate of the
 * shared connection and reconnects by itself. On a cluster it is a connection to the node that
 * serves `key`, replaced by a new one to the key's master of now when that node drops it or
 * answers that it no longer serves the key (a failover), so a reader follows its key for ever.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import {
  type Arg,
  BUFFERS,
  type Client,
  isTransientReply,
  type Redis,
  reconnectDelay,
  type SendOptions,
  supervise,
} from './connection.js';

export class Dedicated {
  readonly #main: Redis;
  readonly #key: string;
  readonly #name: string;
  readonly #role: string;
  readonly #logger: Logger;
  readonly #lostListeners: Array<() => void> = [];
  #client: Client | undefined;
  #opening: Promise<Client> | undefined;
  /** Connections replaced so far: part of `epoch`. */
  #replaced = 0;
  /** Openings in a row that failed or were replaced before a reply: paces the next one. */
  #failures = 0;
  #closed = false;

  constructor(main: Redis, key: string, name: string, role: string, logger: Logger) {
    this.#main = main;
    this.#key = key;
    this.#name = name;
    this.#role = role;
    this.#logger = logger;
  }

  /**
   * Changes whenever the connection is a new one (a new socket, or on a cluster a new node's):
   * whatever it was reading may have been missed meanwhile.
   */
  get epoch(): string {
    return `${this.#replaced}:${this.#client?.socketEpoch ?? '-'}`;
  }

  /** Told at once when the connection drops, before any read in flight fails. */
  onLost(listener: () => void): void {
    this.#lostListeners.push(listener);
  }

  async connect(): Promise<void> {
    await this.#get();
  }

  async send<T>(args: Arg[], options: SendOptions = {}): Promise<T> {
    const client = await this.#get();
    try {
      const reply = await client.sendCommand<T>(args, options.buffers ? { typeMapping: BUFFERS } : undefined);
      this.#failures = 0;
      return reply;
    } catch (err) {
      if (this.#main.cluster && isTransientReply(err)) this.#replace(client);
      throw err;
    }
  }

  destroy(): void {
    this.#closed = true;
    this.#client?.destroy();
    this.#client = undefined;
  }

  #get(): Promise<Client> {
    if (this.#closed) return Promise.reject(new Error('connection closed'));
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<Client> {
    if (this.#failures > 0) await sleep(reconnectDelay(this.#failures - 1));
    this.#failures++;
    const client = supervise(
      await this.#main.nodeConnection(this.#key, this.#name),
      this.#role,
      this.#logger,
    );
    // One node reconnects to itself; a cluster node that dropped may have handed its slots over.
    client.on('error', () => (this.#main.cluster ? this.#replace(client) : this.#lost()));
    client.on('reconnecting', () => this.#lost());
    try {
      await client.connect();
    } catch (err) {
      client.destroy();
      throw err;
    }
    if (this.#closed) {
      client.destroy();
      throw new Error('connection closed');
    }
    this.#client = client;
    return client;
  }

  #replace(client: Client): void {
    client.destroy();
    if (this.#client === client) {
      this.#client = undefined;
      this.#replaced++;
    }
    this.#lost();
  }

  #lost(): void {
    if (this.#closed) return;
    for (const listener of this.#lostListeners) listener();
  }
}
