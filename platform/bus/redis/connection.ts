/**
 * Connections to Redis. One shared connection carries every non-blocking command (node-redis
 * pipelines what is issued in the same tick). Each tick reader, work consumer and control
 * subscription has its own connection, because a blocking read holds its connection until it
 * returns. Every connection reconnects by itself; connection names (CLIENT LIST) say which role
 * each one plays.
 */
import { createClient, RESP_TYPES } from 'redis';
import type { Logger } from '../../logger.js';

/** Stream replies are parsed raw (RESP2 arrays of Buffers) so payload bytes are never decoded or copied. */
export const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** How long close() lets queued commands finish before dropping the connection. */
const CLOSE_GRACE_MS = 2_000;

/** Exponential backoff capped at 2 s, never giving up: the hub must outlive a Redis restart. */
function reconnectDelay(retries: number): number {
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
export type Client = ReturnType<typeof newClient>;

/** CLIENT SETNAME refuses spaces and control characters. */
export function connectionName(name: string): string {
  return name.replace(/[^\x21-\x7e]/g, '_');
}

/**
 * An unhandled 'error' event would crash the process, and node-redis emits one on every lost
 * connection. Each connection's drops and returns are logged at debug only: an outage takes every
 * connection down at once, and the process reports it once, as the `bus` readiness check turning
 * false and true again (platform/health.ts).
 */
export function supervise(client: Client, role: string, logger: Logger): Client {
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
export function readFailed(main: Client, logger: Logger, err: unknown, message: string): void {
  if (main.isReady) logger.warn({ err }, message);
  else logger.debug({ err }, message);
}

/** Lets queued commands finish, but never waits on a server that is gone. */
export async function shutdown(client: Client): Promise<void> {
  if (!client.isOpen) return;
  const timer = setTimeout(() => client.destroy(), CLOSE_GRACE_MS);
  try {
    await client.close();
  } finally {
    clearTimeout(timer);
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
