/**
 * A Polygon stocks WebSocket server for tests, speaking the vendor's protocol at `/stocks`:
 * `connected` on open, `auth_success` / `auth_failed` for `{"action":"auth"}`, one `success` per
 * subscription param, and `max_connections` when a connection with the same key takes over (the
 * older one is told and closed, as Polygon does). Tests script what it sends and break it on
 * purpose: drop connections, send garbage, refuse keys. It records how many connections are
 * authenticated at once, counting a newcomer before the older one is kicked, so a test can prove
 * the hub never held two; sockets that are open but not authenticated do not count, as on Polygon.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

export interface FakePolygonOptions {
  /** The API key it accepts. */
  key: string;
  /** Authenticated connections allowed per key before the oldest is kicked (default 1). */
  maxConnections?: number;
}

interface Client {
  socket: WebSocket;
  authenticated: boolean;
  subscriptions: string[];
}

const status = (status: string, message: string) => JSON.stringify([{ ev: 'status', status, message }]);

export class FakePolygonServer {
  /** Connections opened, ever. */
  connections = 0;
  /** Auth messages received, ever. */
  authAttempts = 0;
  /** The most connections authenticated at one instant. */
  maxSimultaneous = 0;
  /** When a connection authenticated while another already was (epoch ms), in order. */
  readonly overlapsAt: number[] = [];
  /** Every subscribe message's params, in order. */
  readonly subscribeRequests: string[] = [];
  /** Refuse every key (auth_failed) while true. */
  refuseAuth = false;
  readonly #options: FakePolygonOptions;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  readonly #clients = new Set<Client>();
  #streamTimer: NodeJS.Timeout | undefined;

  private constructor(options: FakePolygonOptions, http: Server) {
    this.#options = options;
    this.#http = http;
    this.#wss = new WebSocketServer({ server: http, path: '/stocks', maxPayload: 64 * 1024 });
    this.#wss.on('connection', (socket) => this.#accept(socket));
  }

  static async start(options: FakePolygonOptions): Promise<FakePolygonServer> {
    const http = createServer();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return new FakePolygonServer(options, http);
  }

  /** The base URL to give the hub as POLYGON_WS_URL. */
  get url(): string {
    return `ws://127.0.0.1:${(this.#http.address() as AddressInfo).port}`;
  }

  /** Connections open right now, authenticated or not (a standby holds one unauthenticated). */
  get open(): number {
    return this.#clients.size;
  }

  /** Connections authenticated right now. */
  get authenticated(): number {
    let n = 0;
    for (const client of this.#clients) if (client.authenticated) n++;
    return n;
  }

  /** Authenticated connections that have subscribed to something. */
  get subscribed(): number {
    let n = 0;
    for (const client of this.#clients) if (client.authenticated && client.subscriptions.length > 0) n++;
    return n;
  }

  /** Sends one frame (text as given, or JSON of a value) to every subscribed connection. */
  send(frame: string | unknown[]): void {
    const text = typeof frame === 'string' ? frame : JSON.stringify(frame);
    for (const client of this.#clients) {
      if (client.authenticated && client.subscriptions.length > 0) client.socket.send(text);
    }
  }

  /** Sends a text message in several WebSocket fragments (how a large message arrives). */
  sendFragmented(text: string, fragments: number): void {
    const size = Math.ceil(text.length / fragments);
    for (const client of this.#clients) {
      if (!client.authenticated) continue;
      for (let at = 0; at < text.length; at += size) {
        client.socket.send(text.slice(at, at + size), { fin: at + size >= text.length });
      }
    }
  }

  /** Sends a binary message (Polygon never does). */
  sendBinary(data: Buffer): void {
    for (const client of this.#clients) if (client.authenticated) client.socket.send(data, { binary: true });
  }

  /** Calls `frame()` every `intervalMs` and sends what it returns, until `stopStreaming`. */
  stream(frame: () => string | unknown[], intervalMs: number): void {
    this.stopStreaming();
    this.#streamTimer = setInterval(() => this.send(frame()), intervalMs);
  }

  stopStreaming(): void {
    clearInterval(this.#streamTimer);
    this.#streamTimer = undefined;
  }

  /** Tells every authenticated connection another one took over, and closes them. */
  kickWithMaxConnections(): void {
    for (const client of this.#clients) if (client.authenticated) this.#kick(client);
  }

  /** Cuts every connection without a close handshake (a network drop). */
  dropAll(): void {
    for (const client of this.#clients) client.socket.terminate();
  }

  async close(): Promise<void> {
    this.stopStreaming();
    for (const client of this.#clients) client.socket.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #accept(socket: WebSocket): void {
    this.connections++;
    const client: Client = { socket, authenticated: false, subscriptions: [] };
    this.#clients.add(client);
    socket.on('close', () => this.#clients.delete(client));
    socket.on('error', () => this.#clients.delete(client));
    socket.on('message', (data, isBinary) => this.#message(client, isBinary ? '' : data.toString()));
    socket.send(status('connected', 'Connected Successfully'));
  }

  #message(client: Client, text: string): void {
    let message: { action?: unknown; params?: unknown };
    try {
      message = JSON.parse(text) as typeof message;
    } catch {
      client.socket.send(status('error', 'invalid message'));
      return;
    }
    if (message.action === 'auth') {
      this.authAttempts++;
      if (this.refuseAuth || message.params !== this.#options.key) {
        client.socket.send(status('auth_failed', 'authentication failed'));
        client.socket.close();
        return;
      }
      client.authenticated = true;
      client.socket.send(status('auth_success', 'authenticated'));
      this.maxSimultaneous = Math.max(this.maxSimultaneous, this.authenticated);
      if (this.authenticated > 1) this.overlapsAt.push(Date.now());
      const limit = this.#options.maxConnections ?? 1;
      const older = [...this.#clients].filter((c) => c.authenticated && c !== client);
      while (older.length >= limit) this.#kick(older.shift()!);
      return;
    }
    if (!client.authenticated) {
      client.socket.send(status('auth_required', 'you must authenticate first'));
      return;
    }
    if (message.action === 'subscribe' && typeof message.params === 'string') {
      this.subscribeRequests.push(message.params);
      const params = message.params.split(',');
      client.subscriptions.push(...params);
      client.socket.send(
        JSON.stringify(
          params.map((p) => ({ ev: 'status', status: 'success', message: `subscribed to: ${p}` })),
        ),
      );
    }
  }

  #kick(client: Client): void {
    client.authenticated = false;
    client.socket.send(
      status(
        'max_connections',
        'Maximum number of websocket connections exceeded. You have reached the connection limit for your account.',
      ),
    );
    client.socket.close(1008, 'max_connections');
  }
}
