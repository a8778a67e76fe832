/**
 * The Polygon stocks WebSocket, through `@polygon.io/client-js` (which opens `${url}/stocks` and
 * sends the auth message itself on open). The library does not reconnect; this adapter does:
 *
 * - after `auth_success` it subscribes; every frame goes to the normaliser, whose status
 *   elements come back here through `status()`;
 * - any drop (or a socket silent for `staleReconnectMs`, or no auth within `connectTimeoutMs`)
 *   reconnects with capped exponential backoff and jitter, re-authenticating and resubscribing;
 * - `auth_failed` stops the feed for good (state `failed`): retrying a refused key only gets the
 *   account noticed;
 * - `max_connections` means another connection with our key took over: back off long
 *   (`maxConnectionsBackoffMs` plus up to as much jitter) before trying again;
 * - `prepare()` opens the socket of a standby ahead of time without authenticating — the library's
 *   auth-on-open handler is held back until `start()` — so a takeover costs the auth and subscribe
 *   round trips only. Polygon counts authenticated connections; an unauthenticated socket it closes
 *   after a while (`auth_timeout`) is opened again (backoff reset once one opened), and one that
 *   does not answer the auth at takeover (`warmAuthTimeoutMs`) is replaced by a new connection.
 *
 * The API key is only ever handed to the library; it is never logged, not even in part.
 */
import { websocketClient } from '@polygon.io/client-js';
import type { Logger } from '../platform/logger.js';
import type { Feed, FeedState, FrameHandler } from './feed.js';
import type { IngestStats } from './stats.js';

/** The part of the library's W3C WebSocket this adapter uses. */
interface VendorSocket {
  onopen: (() => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: (() => void) | null;
  send(data: string): void;
  close(): void;
}

/** The library's close code for a message over its 1 MiB frame limit. */
const MESSAGE_TOO_BIG = 1009;

export interface PolygonFeedOptions {
  apiKey: string;
  /** Base URL; the socket opens `${url}/stocks` (default `wss://socket.polygon.io`). */
  url: string;
  /** Comma-separated Polygon subscription params (`T.*,Q.*`). */
  subscriptions: string;
  onFrame: FrameHandler;
  /** A message the library refused as too large (it closes the socket on those). */
  onOversized?: () => void;
  stats: IngestStats;
  logger: Logger;
  /** No frame for this long while connected: state `stale` (default 10 s). */
  staleMs?: number;
  /** No frame for this long: the socket is presumed dead and reopened (default 60 s). */
  staleReconnectMs?: number;
  /** Authenticated within this long after opening, or the attempt is abandoned (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * A standby's held-open socket not authenticated within this long of `start()` is abandoned for a
   * new one (default 2 s): it may have died silently while it waited.
   */
  warmAuthTimeoutMs?: number;
  /** First reconnect delay (default 500 ms), doubled per failed attempt up to `backoffMaxMs` (30 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Wait after `max_connections` (default 30 s, plus up to as much jitter). */
  maxConnectionsBackoffMs?: number;
  /** A connection that lasted this long resets the backoff (default 10 s). */
  stableMs?: number;
}

export class PolygonFeed implements Feed {
  readonly name = 'polygon';
  readonly #options: PolygonFeedOptions;
  readonly #base: string;
  #state: FeedState = 'idle';
  #detail = 'not started';
  #socket: VendorSocket | undefined;
  #closing: Promise<void> | undefined;
  #closed: (() => void) | undefined;
  #running = false;
  /** Holding a standby's socket open, unauthenticated, until `start()`. */
  #warm = false;
  #warmAttempt = 0;
  /** Sends the held-back auth of an open standby socket; undefined once sent or not yet open. */
  #authenticate: (() => void) | undefined;
  #opened = 0;
  #attempt = 0;
  #authenticatedAt = 0;
  #lastFrameAt = 0;
  #tookOver = false;
  #retry: NodeJS.Timeout | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  #staleTimer: NodeJS.Timeout | undefined;
  readonly #unknownStatuses = new Set<string>();

  constructor(options: PolygonFeedOptions) {
    this.#options = options;
    this.#base = options.url.replace(/\/+$/, '');
  }

  get state(): FeedState {
    return this.#state;
  }

  get detail(): string {
    return this.#detail;
  }

  /**
   * Opens the vendor socket without authenticating (a standby's warm connection), so `start()`
   * only has to authenticate and subscribe. No frame is delivered before `start()`.
   */
  prepare(): void {
    if (this.#running || this.#warm || this.#state === 'failed') return;
    this.#warm = true;
    this.#set('idle', 'standing by');
    this.#openWarm();
  }

  start(): void {
    if (this.#running || this.#state === 'failed') return;
    this.#running = true;
    this.#warm = false;
    clearTimeout(this.#retry);
    const staleMs = this.#options.staleMs ?? 10_000;
    this.#staleTimer = setInterval(() => this.#checkStale(), Math.min(1_000, staleMs / 2));
    if (this.#socket === undefined) {
      this.#connect();
      return;
    }
    // The warm socket: authenticate now, or the moment it opens. One that is closing already
    // reconnects through its close handler.
    this.#opened = 1;
    this.#set('connecting', `authenticating on the open connection to ${this.#base}/stocks`);
    this.#armConnectTimer(this.#options.warmAuthTimeoutMs ?? 2_000);
    const authenticate = this.#authenticate;
    this.#authenticate = undefined;
    authenticate?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#warm = false;
    clearTimeout(this.#retry);
    clearTimeout(this.#connectTimer);
    clearInterval(this.#staleTimer);
    if (this.#state !== 'failed') this.#set('idle', 'stopped');
    const closed = this.#close();
    // The close handshake normally takes a round trip; never let a dead vendor hold up shutdown.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
  }

  /** A status element from the vendor, as the normaliser found it in a frame. */
  status(status: string, message: string): void {
    const { logger, stats } = this.#options;
    switch (status) {
      case 'connected':
        return;
      case 'auth_success':
        clearTimeout(this.#connectTimer);
        this.#authenticatedAt = performance.now();
        this.#lastFrameAt = this.#authenticatedAt;
        this.#socket?.send(JSON.stringify({ action: 'subscribe', params: this.#options.subscriptions }));
        this.#set(
          'connected',
          `connected to ${this.#base}/stocks, subscribed to ${this.#options.subscriptions}`,
        );
        logger.info({ url: this.#base, subscriptions: this.#options.subscriptions }, 'vendor feed connected');
        return;
      case 'success':
        return;
      case 'auth_failed':
        this.#running = false;
        clearTimeout(this.#connectTimer);
        clearInterval(this.#staleTimer);
        this.#set(
          'failed',
          `the vendor refused the API key (auth_failed: ${message}); fix POLYGON_API_KEY and restart`,
        );
        logger.error(
          { url: this.#base, status, message },
          'vendor refused the API key: the feed is stopped until POLYGON_API_KEY is fixed and the process restarted',
        );
        void this.#close();
        return;
      case 'max_connections':
        stats.maxConnections++;
        this.#tookOver = true;
        logger.warn(
          { url: this.#base, status, message },
          'vendor says another connection with this key took over; backing off',
        );
        void this.#close();
        return;
      case 'auth_timeout':
        logger.warn(
          { url: this.#base, status, message },
          'vendor timed out our authentication; reconnecting',
        );
        void this.#close();
        return;
      default:
        if (this.#unknownStatuses.has(status)) return;
        this.#unknownStatuses.add(status);
        logger.warn({ url: this.#base, status, message }, 'unknown vendor status (logged once)');
    }
  }

  #connect(): void {
    if (!this.#running) return;
    if (this.#opened++ > 0) this.#options.stats.reconnects++;
    this.#set('connecting', `connecting to ${this.#base}/stocks`);
    if (!this.#open()) {
      this.#scheduleReconnect();
      return;
    }
    this.#armConnectTimer();
  }

  #openWarm(): void {
    if (!this.#warm) return;
    if (!this.#open()) this.#scheduleWarm();
  }

  #armConnectTimer(ms = this.#options.connectTimeoutMs ?? 10_000): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = setTimeout(() => {
      this.#options.logger.warn({ url: this.#base }, 'vendor did not authenticate us in time; reconnecting');
      void this.#close();
    }, ms);
  }

  /**
   * Opens a socket. The library sends the auth message from its `onopen`; that handler runs only
   * while the feed runs, so a standby's socket opens without authenticating.
   */
  #open(): boolean {
    let socket: VendorSocket;
    try {
      socket = websocketClient(this.#options.apiKey, this.#base).stocks();
    } catch (error) {
      this.#options.logger.warn({ err: error, url: this.#base }, 'could not open the vendor socket');
      return false;
    }
    this.#socket = socket;
    const authenticate = socket.onopen;
    socket.onopen = () => {
      if (socket !== this.#socket) return;
      this.#warmAttempt = 0;
      if (this.#running) authenticate?.();
      else this.#authenticate = authenticate ?? undefined;
    };
    socket.onmessage = (event) => {
      if (socket !== this.#socket || !this.#running) return;
      this.#lastFrameAt = performance.now();
      if (this.#state === 'stale') this.#set('connected', `connected to ${this.#base}/stocks`);
      this.#options.onFrame(event.data);
    };
    socket.onerror = () => {
      // Always followed by onclose, which decides what happens next.
    };
    socket.onclose = (event) => this.#onClose(socket, event.code, event.reason);
    return true;
  }

  #onClose(socket: VendorSocket, code: number, reason: string): void {
    if (socket !== this.#socket) return;
    const closed = this.#closed;
    this.#socket = undefined;
    this.#closing = undefined;
    this.#closed = undefined;
    closed?.();
    this.#authenticate = undefined;
    clearTimeout(this.#connectTimer);
    if (code === MESSAGE_TOO_BIG) this.#options.onOversized?.();
    if (!this.#running) {
      if (this.#warm) {
        this.#options.logger.debug(
          { url: this.#base, code, reason },
          'standby vendor socket closed; reopening',
        );
        this.#scheduleWarm();
      }
      return;
    }
    const lasted = this.#authenticatedAt > 0 ? performance.now() - this.#authenticatedAt : 0;
    this.#authenticatedAt = 0;
    if (lasted >= (this.#options.stableMs ?? 10_000)) this.#attempt = 0;
    this.#options.logger.warn({ url: this.#base, code, reason }, 'vendor connection closed; reconnecting');
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    let delay: number;
    if (this.#tookOver) {
      this.#tookOver = false;
      const wait = this.#options.maxConnectionsBackoffMs ?? 30_000;
      delay = wait + Math.random() * wait;
      this.#set(
        'backoff',
        `another connection with this key took over (max_connections); retrying in ${Math.round(delay / 1000)} s`,
      );
    } else {
      const cap = this.#options.backoffMaxMs ?? 30_000;
      const full = Math.min(cap, (this.#options.backoffBaseMs ?? 500) * 2 ** this.#attempt);
      this.#attempt++;
      // Equal jitter: never below half the step, so a fleet of restarts spreads out but still waits.
      delay = full / 2 + (Math.random() * full) / 2;
      this.#set('backoff', `vendor connection lost; retrying in ${Math.round(delay)} ms`);
    }
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  /** Reopens a standby's socket with the reconnect backoff, reset by every socket that opened. */
  #scheduleWarm(): void {
    const cap = this.#options.backoffMaxMs ?? 30_000;
    const full = Math.min(cap, (this.#options.backoffBaseMs ?? 500) * 2 ** this.#warmAttempt);
    this.#warmAttempt++;
    this.#retry = setTimeout(() => this.#openWarm(), full / 2 + (Math.random() * full) / 2);
  }

  #checkStale(): void {
    if (this.#state !== 'connected' && this.#state !== 'stale') return;
    const silent = performance.now() - this.#lastFrameAt;
    if (silent >= (this.#options.staleReconnectMs ?? 60_000)) {
      this.#options.logger.warn(
        { url: this.#base, silentMs: Math.round(silent) },
        'vendor feed silent; reconnecting',
      );
      void this.#close();
    } else if (silent >= (this.#options.staleMs ?? 10_000) && this.#state === 'connected') {
      this.#set('stale', `no frame from the vendor for ${Math.round(silent / 1000)} s`);
    }
  }

  /** Closes the current socket; resolves when it is closed. */
  #close(): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) return Promise.resolve();
    // The library may report the close synchronously (a socket still connecting), so the promise
    // exists before close() is called.
    this.#closing ??= new Promise<void>((resolve) => {
      this.#closed = resolve;
    });
    const closing = this.#closing;
    socket.close();
    return closing;
  }

  #set(state: FeedState, detail: string): void {
    this.#state = state;
    this.#detail = detail;
  }
}
