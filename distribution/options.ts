/**
 * The edge's settings, with their defaults in one place. A few are set from the environment by
 * app/options.ts (docs/distribution.md lists which); the rest are options for tests and embedding.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DEFAULT_PASSTHROUGH, type PassthroughOptions } from './passthrough.js';

export interface EdgeOptions {
  /** Names this edge in usage events; default `hostname-pid-random` (`MDHUB_EDGE_ID`). */
  edgeId: string;
  /** Time a new connection has to authenticate (default 10 000 ms). */
  authTimeoutMs: number;
  /** Distinct symbols one connection may subscribe to; `*` counts as one (`MDHUB_MAX_SYMBOLS`, 1 000). */
  maxSymbols: number;
  /** Channels one subscribe or unsubscribe may list; a longer one is refused whole with 400 (default 1 000). */
  maxChannelsPerMessage: number;
  /** Largest client message; a larger one closes the connection with 1009 (default 64 KiB). */
  maxMessageBytes: number;
  /** Client messages per second per connection (default 10), in bursts of up to `messageBurst` (50). */
  messageRate: number;
  messageBurst: number;
  /** Messages refused for rate before the connection is closed (default 20). */
  messageAbuseLimit: number;
  /**
   * Failed authentication attempts per second per client address and token prefix (default 1),
   * bursts of `authBurst` (20).
   */
  authRate: number;
  authBurst: number;
  /**
   * REST requests per second per user token (`MDHUB_REST_RATE`, 20), in bursts of up to
   * `restBurst` (`MDHUB_REST_BURST`, 40); counted on each edge separately.
   */
  restRate: number;
  restBurst: number;
  /** Sockets one client address may hold open before they authenticate (`MDHUB_PREAUTH_SOCKETS_PER_ADDRESS`, 20). */
  preauthSocketsPerAddress: number;
  /** Proxies whose forwarding headers name the client (`MDHUB_TRUSTED_PROXIES`; default none). */
  trustedProxies: readonly string[];
  /** A session slot lapses unless renewed within this; renewed every third of it (default 30 000 ms). */
  sessionTtlMs: number;
  /** Concurrent sessions for a user without a limit of their own (`MDHUB_SESSION_LIMIT`, 2). */
  defaultSessionLimit: number;
  /**
   * Every socket is pinged this often; one that has not answered the previous ping by the next is
   * terminated (`MDHUB_WS_PING_MS`, default 15 000 ms: a dead socket goes within twice this).
   */
  pingIntervalMs: number;
  /**
   * A session whose ping has gone unanswered this long looks dead: a new session of the same device
   * takes its place at once. A new one at the session limit pings the device's older sessions and
   * waits at most this long for their pong (default 2 000 ms, at most `pingIntervalMs`).
   */
  takeoverProbeMs: number;
  /**
   * permessage-deflate offered to clients, negotiated per client (`MDHUB_WS_DEFLATE`, default
   * false: every socket then compresses each frame itself, which costs CPU and memory per socket).
   */
  deflate: boolean;
  /** With `deflate`, frames smaller than this go out uncompressed (default 1 024 bytes). */
  deflateThresholdBytes: number;
  /** Bytes queued to one socket above which its updates are conflated (default 256 KiB). */
  bufferHighBytes: number;
  /** Bytes queued to one socket at which it is closed as a slow client (`MDHUB_CLIENT_BUFFER_BYTES`, 4 MiB). */
  bufferMaxBytes: number;
  /** A socket still conflating after this long is closed as a slow client (default 10 000 ms). */
  conflateForMs: number;
  /** Channel-and-symbol keys one conflating socket may hold before it is closed (default 10 000). */
  maxConflatedKeys: number;
  /** The delay line's smallest conflation interval (default 1 000 ms). */
  delayIntervalMs: number;
  /** Memory the delay line may hold (`MDHUB_DELAY_LINE_BYTES`, default 128 MiB). */
  delayLineBytes: number;
  /** Fill the delay line from the bus on start, reading back from now − delay (default true). */
  delayBackfill: boolean;
  /** Delivery counters are flushed as usage events this often (`MDHUB_USAGE_FLUSH_MS`, 60 000). */
  usageFlushMs: number;
  /** Usage events held while the bus is unreachable before REST queries are refused (default 100 000). */
  usageSpoolMax: number;
  /** Tick stream entries read per shard at once (default 256). */
  readCount: number;
  /**
   * The usage spool's file (distribution/spool-file.ts): in `dir` (`MDHUB_SPOOL_DIR`, default
   * `MDHUB_DATA_DIR/spool`), named `name` (`MDHUB_EDGE_ID` when set, else the first free slot).
   * None (the default here; the hub always gives one): usage events wait in memory only.
   */
  spool: { dir: string; name?: string } | undefined;
  /**
   * History and reference pass-through to the vendor's REST API (distribution/passthrough.ts):
   * `url` (`POLYGON_REST_URL`), `apiKey` (`POLYGON_API_KEY`; none: synthetic reference data
   * only), `aliasSecret` (`MDHUB_EDGE_ALIAS_SECRET`), the timeout and the cache's bounds.
   */
  passthrough: PassthroughOptions;
}

/** Overrides of the defaults; `passthrough` may name only some of its settings. */
export type EdgeOverrides = Omit<Partial<EdgeOptions>, 'passthrough'> & {
  passthrough?: Partial<PassthroughOptions>;
};

export function defaultEdgeId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The defaults, with `overrides` on top; an `edgeId` left undefined gets a generated one. */
export function edgeOptions(overrides: EdgeOverrides = {}): EdgeOptions {
  const options: EdgeOptions = {
    edgeId: defaultEdgeId(),
    authTimeoutMs: 10_000,
    maxSymbols: 1_000,
    maxChannelsPerMessage: 1_000,
    maxMessageBytes: 64 * 1024,
    messageRate: 10,
    messageBurst: 50,
    messageAbuseLimit: 20,
    authRate: 1,
    authBurst: 20,
    restRate: 20,
    restBurst: 40,
    preauthSocketsPerAddress: 20,
    trustedProxies: [],
    sessionTtlMs: 30_000,
    defaultSessionLimit: 2,
    pingIntervalMs: 15_000,
    takeoverProbeMs: 2_000,
    deflate: false,
    deflateThresholdBytes: 1024,
    bufferHighBytes: 256 * 1024,
    bufferMaxBytes: 4 * 1024 * 1024,
    conflateForMs: 10_000,
    maxConflatedKeys: 10_000,
    delayIntervalMs: 1_000,
    delayLineBytes: 128 * 1024 * 1024,
    delayBackfill: true,
    usageFlushMs: 60_000,
    usageSpoolMax: 100_000,
    readCount: 256,
    spool: undefined,
    ...overrides,
    passthrough: { ...DEFAULT_PASSTHROUGH, ...overrides.passthrough },
  };
  options.edgeId ??= defaultEdgeId();
  return options;
}
