import type { IncomingMessage, Server } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createAdaptorServer } from '@hono/node-server';
import type { App } from './app.js';

/** Takes over an upgrade request on one path (the client WebSocket registers `/stocks`). */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface HttpServer {
  readonly server: Server;
  readonly port: number;
  /** Registers the WebSocket endpoint at `path`; other upgrade paths are refused with 404. */
  onUpgrade(path: string, handler: UpgradeHandler): void;
  /** Stops accepting, ends idle keep-alive connections and resolves when the server is closed. */
  close(): Promise<void>;
}

export interface HttpLimits {
  /** Time a connection has to send a request's headers, from its first byte or from connecting
   * (`MDHUB_HTTP_HEADERS_TIMEOUT_MS`, default 10 000 ms; Node's own is 60 s). */
  headersTimeoutMs: number;
  /** Time a connection has to send a whole request (`MDHUB_HTTP_REQUEST_TIMEOUT_MS`, default 30 000 ms). */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (default 5 000 ms). */
  keepAliveTimeoutMs: number;
  /** How often the two timeouts above are checked: they are enforced that much late at most
   * (default 1 000 ms; Node's own is 30 s). */
  checkIntervalMs: number;
  /**
   * Connections one client address may hold that have not yet sent a complete request; the next
   * one closes that address's oldest (`MDHUB_HTTP_PENDING_PER_CLIENT`, default 256). Behind a load
   * balancer every connection comes from its address: keep this above its connection pool.
   */
  pendingPerClient: number;
  /** The same bound over all addresses together (default 10 000). */
  pendingTotal: number;
  /**
   * A pending connection younger than this is never closed for the per-client bound (default
   * 1 000 ms): an honest client sends its request within milliseconds, so only connections that
   * sit idle make way, never a burst of fresh ones (a thousand app sockets opening at once
   * behind one load balancer). The total bound closes the oldest whatever its age.
   */
  pendingMinAgeMs: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  pendingPerClient: 256,
  pendingTotal: 10_000,
  pendingMinAgeMs: 1_000,
};

export interface ListenOptions {
  port: number;
  host: string;
  limits?: Partial<HttpLimits>;
}

/**
 * One port for everything: the Hono app answers HTTP, and WebSocket upgrades go to the handler
 * registered for their path, so REST, admin, metrics and `/stocks` share `PORT`.
 *
 * A client that opens connections and sends headers a byte at a time (slowloris) holds each for
 * the headers timeout at most, and only `pendingPerClient` of them at once: past that its oldest
 * is closed, so its own sockets make way for new clients rather than the other way round.
 */
export async function listen(app: App, options: ListenOptions): Promise<HttpServer> {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  if (limits.requestTimeoutMs < limits.headersTimeoutMs) limits.requestTimeoutMs = limits.headersTimeoutMs;
  const server = createAdaptorServer({
    fetch: app.fetch,
    hostname: options.host,
    serverOptions: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionsCheckingInterval: limits.checkIntervalMs,
    },
  }) as Server;
  const upgrades = new Map<string, UpgradeHandler>();
  const pending = new PendingConnections(
    limits.pendingPerClient,
    limits.pendingTotal,
    limits.pendingMinAgeMs,
  );

  server.on('connection', (socket: Socket) => pending.add(socket));
  server.on('request', (request: IncomingMessage) => pending.served(request.socket));
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    pending.served(request.socket);
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const handler = upgrades.get(path);
    if (handler) return handler(request, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('clientError', (error: Error & { code?: string }, socket) => {
    // Ending alone would leave the socket half open for as long as the client keeps sending.
    if (!socket.writable) return void socket.destroy();
    const status =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? '408 Request Timeout'
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () =>
      socket.destroy(),
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    server,
    port: (server.address() as AddressInfo).port,
    onUpgrade: (path, handler) => upgrades.set(path, handler),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/**
 * Connections that have not yet sent a complete request (or upgrade), oldest first, per client
 * address and in all, each with when it connected. Maps keep insertion order, so the first entry
 * is the oldest.
 */
class PendingConnections {
  readonly #perClient: number;
  readonly #total: number;
  readonly #minAgeMs: number;
  readonly #byAddress = new Map<string, Map<Socket, number>>();
  readonly #all = new Set<Socket>();

  constructor(perClient: number, total: number, minAgeMs: number) {
    this.#perClient = perClient;
    this.#total = total;
    this.#minAgeMs = minAgeMs;
  }

  add(socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown';
    let sockets = this.#byAddress.get(address);
    if (sockets === undefined) {
      sockets = new Map();
      this.#byAddress.set(address, sockets);
    }
    const now = Date.now();
    sockets.set(socket, now);
    this.#all.add(socket);
    socket.once('close', () => this.#forget(socket, address));
    if (sockets.size > this.#perClient) {
      const [first, since] = sockets.entries().next().value as [Socket, number];
      if (now - since >= this.#minAgeMs) first.destroy();
    }
    if (this.#all.size > this.#total) (this.#all.values().next().value as Socket).destroy();
  }

  /** The socket delivered a complete request: from now on it is kept alive or upgraded. */
  served(socket: Socket): void {
    if (this.#all.has(socket)) this.#forget(socket, socket.remoteAddress ?? 'unknown');
  }

  #forget(socket: Socket, address: string): void {
    this.#all.delete(socket);
    const sockets = this.#byAddress.get(address);
    sockets?.delete(socket);
    if (sockets?.size === 0) this.#byAddress.delete(address);
  }
}

/**
 * Fails at once, in words, when `port` is taken on `host`: a hub checks this before it migrates
 * the database or starts a role, so a second `mdhub start` on a busy port changes nothing. Port 0
 * (any free port) is never taken.
 */
export async function ensurePortFree(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (error: Error & { code?: string }) => {
      if (error.code === 'EADDRINUSE')
        reject(
          new PortInUseError(
            `PORT ${port} is already in use on ${host}: another mdhub or another program listens there; stop it or set PORT`,
          ),
        );
      else reject(error);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}
