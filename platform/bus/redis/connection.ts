/**
 * Connections to Redis, on one node or a Redis Cluster, behind one interface (`Redis`) so every
 * capability is written once. The shared connection carries every non-blocking command (node-redis
 * pipelines what is issued in the same tick; on a cluster, per node). Each tick reader, work
 * consumer and control subscription has connections of its own (`dedicated.ts`), because a
 * blocking read holds its connection until it returns. Every connection reconnects by itself;
 * connection names (CLIENT LIST) say which role each one plays.
 */
import { createClient, ErrorReply, RESP_TYPES } from 'redis';
import type { Logger } from '../../logger.js';

/** Stream replies are parsed raw (RESP2 arrays of Buffers) so payload bytes are never decoded or copied. */
export const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** How long close() lets queued commands finish before dropping the connection. */
const CLOSE_GRACE_MS = 2_000;

export type Arg = string | Buffer;

export interface SendOptions {
  /** Bulk strings as Buffers (`BUFFERS`) instead of decoded text. */
  buffers?: boolean;
}

/** A single-node client: what a dedicated connection is, on one node or on a cluster's node. */
export type Client = ReturnType<typeof newClient>;

/**
 * The shared connection: one node's client, or a cluster client routing each command by its first
 * key (`key`), following MOVED after a failover.
 */
export interface Redis {
  readonly cluster: boolean;
  readonly isReady: boolean;
  send<T>(key: string | undefined, args: Arg[], options?: SendOptions): Promise<T>;
  /** Commands issued together, replies in order; rejects if any fails. */
  pipeline(commands: ReadonlyArray<{ key: string; args: Arg[] }>): Promise<unknown[]>;
  /** PING, on a cluster every master. */
  ping(): Promise<void>;
  /** A new single-node connection to the node serving `key` (not yet connected), named `name`. */
  nodeConnection(key: string, name: string): Promise<Client>;
  close(): Promise<void>;
}

/** Exponential backoff capped at 2 s, never giving up: the hub must outlive a Redis restart. */
export function reconnectDelay(retries: number): number {
  return Math.min(50 * 2 ** retries, 2_000) + Math.floor(Math.random() * 100);
}

/**
 * The shared connection's strategy: the same backoff, except that before the first connection
 * succeeds it gives up after `retryMs`, so `connect()` rejects instead of waiting for ever on an
 * address nothing listens on. Connections duplicated from it later are made once it is up and
 * so never give up.
 */
export function bootStrategy(retryMs: number) {
  const started = Date.now();
  let connected = false;
  const strategy = (retries: number, cause: Error): number | Error => {
    if (!connected && Date.now() - started >= retryMs) return cause;
    return reconnectDelay(retries);
  };
  return { strategy, connected: () => (connected = true) };
}

export function newClient(
  url: string,
  name: string,
  reconnectStrategy: (retries: number, cause: Error) => number | Error = reconnectDelay,
) {
  return createClient({ url, name, RESP: 2, socket: { reconnectStrategy } });
}

/** CLIENT SETNAME refuses spaces and control characters. */
export function connectionName(name: string): string {
  return name.replace(/[^\x21-\x7e]/g, '_');
}

/**
 * Error replies that mean "this node no longer serves the key, or not yet": a cluster failover
 * (MOVED, UNBLOCKED for a blocked read on a master turned replica, READONLY), a cluster still
 * settling (CLUSTERDOWN, TRYAGAIN, MASTERDOWN) or a node loading its data (LOADING). Readers treat
 * them like a dropped connection: retry, never give up.
 */
export function isTransientReply(err: unknown): boolean {
  return (
    err instanceof ErrorReply &&
    /^(MOVED|ASK|UNBLOCKED|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING)\b/.test(err.message)
  );
}

/** An error a reader must report (a bug or bad state), not just wait out. */
export function isHardReply(err: unknown): boolean {
  return err instanceof ErrorReply && !isTransientReply(err);
}

/**
 * An unhandled 'error' event would crash the process, and node-redis emits one on every lost
 * connection. Each connection's drops and returns are logged at debug only: an outage takes every
 * connection down at once, and the process reports it once, as the `bus` readiness check turning
 * false and true again (platform/health.ts).
 */
export function supervise<C extends Client>(client: C, role: string, logger: Logger): C {
  let up = false;
  let lost = false;
  client.on('ready', () => {
    if (lost) logger.debug({ role }, 'redis connection restored');
    up = true;
    lost = false;
  });
  client.on('error', (err: unknown) => {
    if (up) logger.debug({ role, err }, 'redis connection lost, reconnecting');
    else logger.debug({ role, err }, 'redis connection attempt failed');
    up = false;
    lost = true;
  });
  return client;
}

/**
 * A read that failed on a child connection: news while the shared connection is up, and only
 * debug detail while it is down, since the outage is already reported (see `supervise`).
 */
/**
 * How long a read that failed at once waits before it answers: a caller that reads in a loop
 * would otherwise spin on promises rejected without I/O (a client reconnecting, a failover in
 * progress), starving the event loop — its timers, its sockets — until the connection is back.
 */
export const FAILED_READ_PAUSE_MS = 100;

export function readFailed(main: Redis, logger: Logger, err: unknown, message: string): void {
  if (main.isReady) logger.warn({ err }, message);
  else logger.debug({ err }, message);
}

/** Lets queued commands finish, but never waits on a server that is gone. */
export async function shutdown(client: { isOpen: boolean; close(): Promise<void>; destroy(): void }) {
  if (!client.isOpen) return;
  const timer = setTimeout(() => client.destroy(), CLOSE_GRACE_MS);
  try {
    await client.close();
  } finally {
    clearTimeout(timer);
  }
}

/** The shared connection on one node. */
export class SingleRedis implements Redis {
  readonly cluster = false;
  readonly #client: Client;

  constructor(client: Client) {
    this.#client = client;
  }

  get isReady(): boolean {
    return this.#client.isReady;
  }

  send<T>(_key: string | undefined, args: Arg[], options: SendOptions = {}): Promise<T> {
    return this.#client.sendCommand<T>(args, options.buffers ? { typeMapping: BUFFERS } : undefined);
  }

  async pipeline(commands: ReadonlyArray<{ key: string; args: Arg[] }>): Promise<unknown[]> {
    const pipeline = this.#client.multi();
    for (const { args } of commands) pipeline.addCommand(args);
    return pipeline.execAsPipeline();
  }

  async ping(): Promise<void> {
    await this.#client.ping();
  }

  async nodeConnection(_key: string, name: string): Promise<Client> {
    return this.#client.duplicate({ name });
  }

  close(): Promise<void> {
    return shutdown(this.#client);
  }
}

/** A child connection the bus must close when it closes. */
interface Closeable {
  close(): Promise<void>;
}

/** What the bus has opened; a child created while or after the bus closes is closed at once. */
export class Children {
  readonly #open = new Set<Closeable>();
  #closed = false;

  add<T extends Closeable>(child: T): T {
    if (this.#closed) void child.close();
    else this.#open.add(child);
    return child;
  }

  remove(child: Closeable): void {
    this.#open.delete(child);
  }

  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#open].map((child) => child.close()));
  }
}
