import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

/**
 * One port for everything: the Hono app answers HTTP, and WebSocket upgrades go to the handler
 * registered for their path, so REST, admin, metrics and `/stocks` share `PORT`.
 */
export async function listen(app: App, options: { port: number; host: string }): Promise<HttpServer> {
  const server = createAdaptorServer({ fetch: app.fetch, hostname: options.host }) as Server;
  const upgrades = new Map<string, UpgradeHandler>();

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    const handler = upgrades.get(path);
    if (handler) return handler(request, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
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
