/**
 * A distribution edge: the `/stocks` WebSocket endpoint and REST snapshots on the shared port,
 * its own tick readers, the fan-out with its delay line, session slots, metering and metrics.
 * Any number of edges may run on one bus; each sees every tick and meters its own sessions.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Hono } from 'hono';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Catalog } from '../config/index.js';
import { type Quote, readLastValues, type Trade } from '../ingest/index.js';
import type { Bus, Retention, TickStreams } from '../platform/bus/index.js';
import type { AppEnv } from '../platform/http/app.js';
import { ClientAddresses } from '../platform/http/client-address.js';
import type { Logger } from '../platform/logger.js';
import type { Registry } from '../platform/metrics.js';
import { USAGE_STREAM } from '../usage/index.js';
import type { Slot } from './delay-line.js';
import { SymbolDirectory } from './directory.js';
import type { EntitlementView } from './entitlement-view.js';
import { Fanout } from './fanout.js';
import { Metering } from './metering.js';
import { EdgeStats, registerEdgeMetrics } from './metrics.js';
import type { EdgeOptions } from './options.js';
import { Passthrough } from './passthrough.js';
import { type ProductTable, productTable } from './products.js';
import { CLOSE, CONNECTED, errorStatus, frame } from './protocol.js';
import { KeyedLimiter } from './rate-limit.js';
import { restRoutes } from './rest.js';
import type { RestAccessDeps } from './rest-access.js';
import { aggsRoutes } from './rest-aggs.js';
import { sessionsWithRequest } from './rest-sessions.js';
import { snapshotRoutes } from './rest-snapshot.js';
import { Router } from './routing.js';
import { Session, type SessionHost } from './session.js';
import { SlotKeeper } from './session-slots.js';
import { UsageSpool } from './spool.js';
import type { SpoolFile } from './spool-file.js';
import { StreamOffsets } from './stream-offsets.js';
import { RemoteTakeover } from './takeover.js';
import { TickSource } from './tick-source.js';

export interface EdgeDeps {
  bus: Bus;
  catalog: Catalog;
  view: EntitlementView;
  logger: Logger;
  options: EdgeOptions;
  /** Where `mdhub_edge_*` metrics are registered; none: not exported. */
  metrics?: Registry;
  /** Where the spool keeps usage events until the bus stored them (opened by the caller); none: memory only. */
  spoolFile?: SpoolFile;
  now?: () => number;
}

/** The keepalive interval is worked in this many slices, each pinging its share of the sockets. */
const KEEPALIVE_SLICES = 10;
/** How often conflating sockets are checked for having caught up. */
const DRAIN_EVERY_MS = 50;
/** How long a socket waits to authenticate before newer ones from its address may evict it. */
const PREAUTH_MIN_WAIT_MS = 1_000;
/** Fresh unauthenticated sockets one address may hold, as a multiple of its cap, before refusals. */
const PREAUTH_BURST_FACTOR = 10;
/** What a takeover asked of the other edges waits for their answer beyond the probe window. */
const REMOTE_TAKEOVER_MARGIN_MS = 500;
/** How long a refused socket may take to finish its close handshake before it is dropped. */
const REFUSED_CLOSE_GRACE_MS = 5_000;
/**
 * Part of the hub's 5 s shutdown the edge gives the spool to reach the bus; the meter then has
 * its own part to commit them (usage/meter.ts). What is left stays in the spool file.
 */
const SHUTDOWN_DRAIN_MS = 2_500;

export class Edge implements SessionHost {
  readonly options: EdgeOptions;
  readonly products: ProductTable;
  readonly view: EntitlementView;
  readonly router = new Router<Session>();
  readonly stats = new EdgeStats();
  readonly metering: Metering;
  readonly slots: SlotKeeper;
  readonly directory: SymbolDirectory;
  readonly authLimiter: KeyedLimiter;
  readonly restLimiter: KeyedLimiter;
  readonly addresses: ClientAddresses;
  readonly spool: UsageSpool;
  readonly fanout: Fanout<Session>;
  readonly passthrough: Passthrough;
  readonly takeover: RemoteTakeover;
  readonly offsets: StreamOffsets;
  readonly ticks: TickStreams;
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #wss: WebSocketServer;
  readonly #source: TickSource;
  readonly #sessions = new Set<Session>();
  #keepaliveTick = 0;
  /** Keepalive slices are handed out to new sessions in turn. */
  #sliceNext = 0;
  /** Every client socket until it is gone, sessions ended or refused included: what they queue is memory. */
  readonly #sockets = new Set<WebSocket>();
  readonly #byUser = new Map<string, Set<Session>>();
  readonly #conflating = new Set<Session>();
  /** Per client address, its sockets waiting to authenticate and when each was accepted, oldest first. */
  readonly #preauth = new Map<string, Map<Session, number>>();
  #drainTimer: NodeJS.Timeout | undefined;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #stopping: Promise<void> | undefined;

  constructor(deps: EdgeDeps) {
    const { options, bus } = deps;
    this.options = options;
    this.view = deps.view;
    this.#bus = bus;
    this.#logger = deps.logger;
    this.#now = deps.now ?? Date.now;
    this.products = productTable(deps.catalog);
    this.spool = new UsageSpool({
      stream: bus.work(USAGE_STREAM),
      max: options.usageSpoolMax,
      logger: deps.logger,
      file: deps.spoolFile,
    });
    this.metering = new Metering({
      edgeId: options.edgeId,
      products: this.products,
      spool: this.spool,
      flushMs: options.usageFlushMs,
      now: this.#now,
    });
    this.slots = new SlotKeeper({
      slots: bus.sessions,
      ttlMs: options.sessionTtlMs,
      limitOf: (userId) => this.sessionLimit(userId),
      logger: deps.logger,
    });
    this.takeover = new RemoteTakeover({
      control: bus.control,
      edgeId: options.edgeId,
      candidates: (userId, deviceId) =>
        [...(this.#byUser.get(userId) ?? [])].filter((session) => session.deviceId === deviceId),
      waitMs: Math.min(options.takeoverProbeMs, options.pingIntervalMs) + REMOTE_TAKEOVER_MARGIN_MS,
      logger: deps.logger,
    });
    this.directory = new SymbolDirectory(bus, this.products);
    this.authLimiter = new KeyedLimiter(options.authRate, options.authBurst);
    this.restLimiter = new KeyedLimiter(options.restRate, options.restBurst);
    this.addresses = new ClientAddresses(options.trustedProxies);
    const latency =
      deps.metrics &&
      registerEdgeMetrics(deps.metrics, this.stats, {
        connections: () => this.#sessions.size,
        subscriptionsByMode: () => this.#subscriptionsByMode(),
        delayLine: () => {
          const budget = this.fanout.lines.budget;
          return { bytes: budget.used, entries: budget.entries, dropped: budget.dropped };
        },
        spoolSize: () => this.spool.size,
        queuedBytes: () => {
          let bytes = 0;
          for (const ws of this.#sockets) bytes += ws.bufferedAmount;
          return bytes;
        },
        spoolFileBytes: () => this.spool.fileBytes,
      });
    this.fanout = new Fanout<Session>({
      router: this.router,
      products: this.products,
      metering: this.metering,
      stats: this.stats,
      delayIntervalMs: options.delayIntervalMs,
      delayLineBytes: options.delayLineBytes,
      observeLatency: latency && ((seconds) => latency.observe(seconds)),
      now: this.#now,
    });
    this.ticks = bus.ticks;
    this.offsets = new StreamOffsets(bus.ticks.shards);
    this.#source = new TickSource({
      offsets: this.offsets,
      ticks: bus.ticks,
      sink: this.fanout,
      readCount: options.readCount,
      backfillMs: options.delayBackfill ? this.fanout.lines.maxDelayMs : 0,
      logger: deps.logger,
      now: this.#now,
    });
    this.passthrough = new Passthrough({
      bus,
      view: this.view,
      products: this.products,
      directory: this.directory,
      stats: this.stats,
      authLimiter: this.authLimiter,
      requestLimiter: this.restLimiter,
      addresses: this.addresses,
      options: options.passthrough,
      logger: deps.logger,
      now: this.#now,
    });
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      // Offered when enabled, and used only with the clients that ask for it. Each such socket
      // compresses every frame itself, so its compressor is kept small: no context kept between
      // frames, a 2 KiB window and memLevel 4 (about 16 KiB of zlib memory per socket, not 256).
      perMessageDeflate: options.deflate && {
        threshold: options.deflateThresholdBytes,
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 11,
        zlibDeflateOptions: { memLevel: 4 },
      },
      clientTracking: false,
    });
  }

  /** Starts reading ticks and following entitlement changes. */
  start(): void {
    this.#unsubscribe = this.view.onChange((userId) => this.#entitlementsChanged(userId));
    this.#source.start();
    this.slots.start();
    this.metering.start();
    this.takeover
      .start()
      .catch((err: unknown) =>
        this.#logger.warn(
          { err },
          'takeovers across edges are off: the control channel could not be followed',
        ),
      );
    this.#refreshEpochs();
    // Each socket is pinged once per interval, a tenth of them every tenth of it: a thousand
    // pings in one turn would delay every frame queued behind them.
    this.#keepaliveTimer ??= setInterval(
      () => {
        const slice = this.#keepaliveTick++ % KEEPALIVE_SLICES;
        if (slice === 0) this.#refreshEpochs();
        for (const session of this.#sessions) if (session.keepaliveSlice === slice) session.keepalive();
      },
      Math.max(1, this.options.pingIntervalMs / KEEPALIVE_SLICES),
    );
    this.#keepaliveTimer.unref();
  }

  /** Takes over an HTTP upgrade on `/stocks`. */
  readonly handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.#stopping !== undefined) {
      socket.destroy();
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws, request));
  };

  /**
   * The REST routes, to mount on the hub's app: history and reference pass-through first (it hands
   * ranges reaching today on to the hub's own bars), then last values, snapshots and today's bars.
   */
  routes(): Hono<AppEnv> {
    const deps = this.#restDeps();
    const app = new Hono<AppEnv>();
    app.route('/', this.passthrough.routes());
    app.route('/', restRoutes(deps));
    app.route('/', snapshotRoutes(deps));
    app.route('/', aggsRoutes({ ...deps, passthrough: this.passthrough }));
    return app;
  }

  #restDeps(): RestAccessDeps {
    return {
      bus: this.#bus,
      view: this.view,
      products: this.products,
      lines: this.fanout.lines,
      metering: this.metering,
      spool: this.spool,
      stats: this.stats,
      authLimiter: this.authLimiter,
      requestLimiter: this.restLimiter,
      sessionsWith: (principal) =>
        sessionsWithRequest({
          slots: this.#bus.sessions,
          userId: principal.userId,
          deviceId: principal.deviceId,
          limit: this.sessionLimit(principal.userId),
          local: this.#byUser.get(principal.userId) ?? [],
        }),
      addresses: this.addresses,
      now: this.#now,
    };
  }

  get connections(): number {
    return this.#sessions.size;
  }

  /** Whether the read-back on start has filled the delay line. */
  get backfilled(): boolean {
    return this.#source.backfilled;
  }

  now(): number {
    return this.#now();
  }

  async retention(): Promise<Retention[]> {
    const retention = await this.#bus.ticks.retention();
    this.offsets.epochsFrom(retention);
    return retention;
  }

  heldFrom(product: number): number {
    return this.fanout.lines.lines[product]?.heldFrom ?? Number.POSITIVE_INFINITY;
  }

  /** The epochs offsets carry follow the bus's: after a Redis that lost its data, new ones. */
  #refreshEpochs(): void {
    this.retention().catch(() => undefined);
  }

  firstDelayedAt(product: number, type: number, sym: string): number | undefined {
    return this.fanout.lines.firstDelayedAt(product, type, sym, this.#now());
  }

  readLastValues(type: 'Q' | 'T', syms: readonly string[]): Promise<Array<Quote | Trade | null>> {
    return readLastValues(this.#bus, type, syms);
  }

  releasedValue(type: number, sym: string): Slot | undefined {
    return this.fanout.lines.releasedValue(type, sym);
  }

  sessionLimit(userId: string): number {
    return this.view.snapshot(userId)?.sessionLimit ?? this.options.defaultSessionLimit;
  }

  takeOverElsewhere(session: Session): Promise<void> {
    return session.deviceId === undefined
      ? Promise.resolve()
      : this.takeover.request(session.userId, session.deviceId);
  }

  sameDevice(session: Session): Session[] {
    if (session.deviceId === undefined) return [];
    const sessions = this.#byUser.get(session.userId) ?? [];
    return [...sessions].filter((other) => other !== session && other.deviceId === session.deviceId);
  }

  opened(session: Session): void {
    let sessions = this.#byUser.get(session.userId);
    if (sessions === undefined) {
      sessions = new Set();
      this.#byUser.set(session.userId, sessions);
    }
    sessions.add(session);
    this.metering.opened(session);
  }

  preauthEnded(session: Session): void {
    const waiting = this.#preauth.get(session.address);
    waiting?.delete(session);
    if (waiting?.size === 0) this.#preauth.delete(session.address);
  }

  closed(session: Session, wasOpen: boolean): void {
    this.#sessions.delete(session);
    this.#conflating.delete(session);
    if (!wasOpen) return;
    const sessions = this.#byUser.get(session.userId);
    sessions?.delete(session);
    if (sessions?.size === 0) this.#byUser.delete(session.userId);
    this.metering.closed(session, this.#now(), session.endReason);
  }

  conflating(session: Session): void {
    this.#conflating.add(session);
    this.#drainTimer ??= setInterval(() => this.#drain(), DRAIN_EVERY_MS);
  }

  /**
   * Stops taking connections and ticks, closes every socket with 1001 (going away), records the
   * sessions' ends and flushes the counters, then gives the usage events a bounded time to reach
   * the bus — all within the hub's shutdown budget. Events the bus did not take stay in the spool
   * file for the next start.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#source.stop();
    for (const session of [...this.#sessions]) session.shutdown();
    clearInterval(this.#drainTimer);
    clearInterval(this.#keepaliveTimer);
    await this.takeover.stop();
    this.slots.stop();
    this.metering.flush(this.#now(), true);
    this.metering.stop();
    this.fanout.lines.stop();
    const left = await this.spool.drain(SHUTDOWN_DRAIN_MS);
    await this.spool.close();
    if (left > 0)
      this.#logger.error(
        { left, file: this.spool.fileBytes > 0 ? 'kept for the next start' : 'none: lost' },
        'usage events could not reach the bus before shutdown',
      );
    this.#wss.close();
  }

  #accept(ws: WebSocket, request: IncomingMessage): void {
    this.#sockets.add(ws);
    ws.once('close', () => this.#sockets.delete(ws));
    const address = this.addresses.of(request.socket.remoteAddress, request.headers);
    let waiting = this.#preauth.get(address);
    if (waiting === undefined) {
      waiting = new Map();
      this.#preauth.set(address, waiting);
    }
    const most = this.options.preauthSocketsPerAddress;
    const now = this.#now();
    if (waiting.size >= most) {
      // An honest client authenticates within milliseconds of connecting: past the cap, the oldest
      // socket that has waited a second makes way. A burst of fresh ones (a carrier's NAT, clients
      // failing over from a dead edge) is admitted, up to PREAUTH_BURST_FACTOR × the cap.
      const [oldest, since] = waiting.entries().next().value as [Session, number];
      if (now - since >= PREAUTH_MIN_WAIT_MS)
        oldest.evictUnauthenticated(
          `Your address opened more than ${most} connections that did not authenticate; this one waited longest and is closed.`,
        );
      else if (waiting.size >= most * PREAUTH_BURST_FACTOR) {
        this.stats.refuse('preauth_limit');
        ws.send(
          frame([
            errorStatus(
              'too_many_connections',
              `Your address already has ${waiting.size} connections waiting to authenticate, the most allowed; this one is closed. Authenticate those first.`,
            ),
          ]),
        );
        ws.close(CLOSE.policy, 'too many unauthenticated connections');
        setTimeout(() => ws.terminate(), REFUSED_CLOSE_GRACE_MS).unref();
        return;
      }
    }
    const session = new Session(ws, address, this);
    waiting.set(session, now);
    this.#sessions.add(session);
    session.keepaliveSlice = this.#sliceNext++ % KEEPALIVE_SLICES;
    ws.send(CONNECTED);
  }

  #entitlementsChanged(userId: string): void {
    const sessions = this.#byUser.get(userId);
    if (sessions === undefined) return;
    for (const session of [...sessions]) session.entitlementsChanged();
  }

  #drain(): void {
    const now = this.#now();
    for (const session of this.#conflating) if (session.drain(now)) this.#conflating.delete(session);
    if (this.#conflating.size === 0) {
      clearInterval(this.#drainTimer);
      this.#drainTimer = undefined;
    }
  }

  #subscriptionsByMode(): Array<[string, number]> {
    const counts = new Map<string, number>([
      ['realtime', 0],
      ['delayed', 0],
      ['refused', 0],
      ['mixed', 0],
    ]);
    for (const session of this.#sessions) {
      for (const mode of session.subscriptionModes()) counts.set(mode, (counts.get(mode) ?? 0) + 1);
    }
    return [...counts];
  }
}
