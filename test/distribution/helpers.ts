/**
 * Test harness for distribution: real hubs running the edge role (Redis bus, PostgreSQL schema of
 * their own), users and grants made through the entitlements verbs exactly as the admin API makes
 * them, ticks published as ingest publishes them, and a WebSocket client that timestamps what it
 * receives.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { websocketClient } from '@polygon.io/client-js';
import WebSocket from 'ws';
import { type Hub, type RoleStarter, startHub } from '../../app/hub.js';
import { createEdgeStarter } from '../../app/roles.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import type { EdgeOptions } from '../../distribution/index.js';
import {
  acceptAgreement,
  createUser,
  grant,
  issueToken,
  publishChanges,
  revoke,
  setStatus,
  type TokenUsage,
  type VerbOutcome,
} from '../../entitlements/index.js';
import {
  encodeBatch,
  lastValueKey,
  type MarketEvent,
  type Quote,
  serializeEvent,
  type Tape,
  type Trade,
} from '../../ingest/index.js';
import type { Actor, VerbContext } from '../../platform/actor.js';
import { type Bus, shardOf } from '../../platform/bus/index.js';
import { silentLogger } from '../../platform/logger.js';
import { parseUsageEvent, type UsageEvent } from '../../usage/index.js';
import { POSTGRES_URL, REDIS_URL } from '../helpers/services.js';

export const ADMIN: Actor = { type: 'operator', id: 'test-admin', role: 'admin' };

export interface EdgeHubOptions {
  /** Redis key prefix shared by edges that should see each other (scaled mode). */
  prefix: string;
  /** PostgreSQL schema shared likewise. */
  schema: string;
  /** Every product's delay (MDHUB_DELAY_MS). */
  delayMs?: number;
  options?: Partial<EdgeOptions>;
  env?: Record<string, string>;
  /** Embedded: in-process bus and PGlite instead of Redis and PostgreSQL. */
  embedded?: boolean;
  /** The bus the edge gets, in place of the hub's (to hold back one of its calls). */
  bus?: (bus: Bus) => Bus;
  /** The edge's clock; default Date.now. */
  now?: () => number;
}

/** Settings that keep tests fast and independent of one another's connection counts. */
export const TEST_OPTIONS: Partial<EdgeOptions> = { authBurst: 1_000, usageFlushMs: 60_000 };

export async function startEdgeHub(options: EdgeHubOptions): Promise<Hub> {
  const delay = String(options.delayMs ?? 1_000);
  const vars: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    MDHUB_LOG_LEVEL: 'silent',
    MDHUB_DELAY_MS: delay,
    // A data dir of its own in every mode: the edge keeps its usage spool file there.
    MDHUB_DATA_DIR: mkdtempSync(join(tmpdir(), 'mdhub-edge-')),
    ...(options.embedded ? {} : { REDIS_URL, DATABASE_URL: POSTGRES_URL }),
    ...options.env,
  };
  const env = parseEnv(vars);
  return startHub({
    env,
    catalog: loadCatalog(undefined, env.MDHUB_DELAY_MS),
    logger: silentLogger,
    roles: ['edge'],
    starters: { edge: edgeStarter(options) },
    dbSchema: options.embedded ? undefined : options.schema,
    busPrefix: options.embedded ? undefined : options.prefix,
  });
}

function edgeStarter(options: EdgeHubOptions): RoleStarter {
  const starter = createEdgeStarter({ options: { ...TEST_OPTIONS, ...options.options }, now: options.now });
  const wrap = options.bus;
  return wrap === undefined ? starter : (ctx) => starter({ ...ctx, bus: wrap(ctx.bus) });
}

/** Runs a verb the way the admin API does: one transaction, then the change feed. */
export async function run<T>(
  hub: Hub,
  verb: (ctx: VerbContext & { catalog: Hub['ctx']['catalog'] }) => Promise<VerbOutcome<T>>,
): Promise<T> {
  const { db, bus, catalog } = hub.ctx;
  const outcome = await db.transaction((tx) => verb({ actor: ADMIN, tx, at: Date.now(), catalog }));
  await publishChanges(db, bus.control);
  return outcome.value;
}

export interface TestUser {
  id: string;
  token: string;
}

/**
 * A user with a token; `realtime` lists the products they get in real time (agreement accepted,
 * grant given, optionally until `validTo`, at most `grantRate` updates a second per symbol);
 * `userRate` is the user's own delivery rate.
 */
export async function makeUser(
  hub: Hub,
  id: string,
  setup: {
    realtime?: string[];
    validTo?: number;
    sessionLimit?: number;
    deviceId?: string;
    usage?: TokenUsage;
    grantRate?: number;
    userRate?: number;
  } = {},
): Promise<TestUser> {
  await run(hub, (ctx) =>
    createUser({
      ctx,
      input: { id, sessionLimit: setup.sessionLimit, maxUpdatesPerSecond: setup.userRate },
    }),
  );
  for (const product of setup.realtime ?? []) {
    await run(hub, (ctx) => acceptAgreement({ ctx, input: { userId: id, product } }));
    await run(hub, (ctx) =>
      grant({
        ctx,
        input: { userId: id, product, validTo: setup.validTo, maxUpdatesPerSecond: setup.grantRate },
      }),
    );
  }
  const issued = await run(hub, (ctx) =>
    issueToken({ ctx, input: { userId: id, deviceId: setup.deviceId, usage: setup.usage } }),
  );
  return { id, token: issued.token };
}

export function revokeGrant(hub: Hub, userId: string, product: string): Promise<unknown> {
  return run(hub, (ctx) => revoke({ ctx, input: { userId, product } }));
}

export function grantRealtime(hub: Hub, userId: string, product: string, validTo?: number): Promise<unknown> {
  return run(hub, (ctx) => grant({ ctx, input: { userId, product, validTo } }));
}

export function closeAccount(hub: Hub, userId: string): Promise<unknown> {
  return run(hub, (ctx) => setStatus({ ctx, input: { userId, status: 'closed', reason: 'test' } }));
}

/** The usage events on the bus that `group` has not read yet, parsed by the published schema. */
export async function readUsage(bus: Bus, group: string): Promise<UsageEvent[]> {
  const stream = bus.work('usage');
  await stream.ensureGroup(group);
  const consumer = stream.consumer(group, 'reader');
  const events: UsageEvent[] = [];
  for (;;) {
    const entries = await consumer.read({ count: 1_000, blockMs: 0 });
    if (entries.length === 0) break;
    events.push(...entries.map((entry) => parseUsageEvent(entry.payload)));
  }
  await consumer.close();
  return events;
}

/** A counter or gauge without labels on the edge's `/metrics`, 0 when it is not there. */
export async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/** Waits until the edge's entitlement cache knows the token (the change feed is asynchronous). */
export async function waitForToken(port: number, token: string): Promise<void> {
  await until(async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/last/quote/NOPE?apiKey=${token}`);
    return res.status !== 401;
  }, 'the edge to know the token');
}

let sequence = 0;

/** A quote on `tape` at vendor time `t` (default now). */
export function quote(sym: string, tape: Tape, t = Date.now(), price = 100): Quote {
  return {
    ev: 'Q',
    sym,
    bx: 11,
    bp: price,
    bs: 3,
    ax: 12,
    ap: price + 0.01,
    as: 4,
    c: undefined,
    i: undefined,
    t,
    q: ++sequence,
    z: tape,
  };
}

export function trade(sym: string, tape: Tape, t = Date.now(), price = 100): Trade {
  return {
    ev: 'T',
    sym,
    x: 4,
    i: String(++sequence),
    z: tape,
    p: price,
    s: 100,
    c: undefined,
    t,
    q: sequence,
  };
}

/** Publishes events as ingest does: one batch per shard. */
export async function publish(bus: Bus, events: readonly MarketEvent[]): Promise<void> {
  const byShard = new Map<number, Array<{ event: MarketEvent; tape: Tape }>>();
  for (const event of events) {
    const shard = shardOf(event.sym, bus.ticks.shards);
    const tape = event.ev === 'T' || event.ev === 'Q' ? event.z : 1;
    const list = byShard.get(shard) ?? [];
    list.push({ event, tape });
    byShard.set(shard, list);
  }
  await bus.ticks.publish([...byShard].map(([shard, list]) => ({ shard, payload: encodeBatch(list) })));
}

/** Writes last values as ingest's last-value cache does. */
export async function setLastValues(bus: Bus, events: ReadonlyArray<Quote | Trade>): Promise<void> {
  for (const event of events) {
    await bus.kv.setFields(lastValueKey(event.ev), new Map([[event.sym, serializeEvent(event)]]));
  }
}

/** Publishes a quote for each symbol every `everyMs` until stopped. */
export function ticker(
  bus: Bus,
  symbols: ReadonlyArray<[string, Tape]>,
  everyMs = 20,
): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await publish(
        bus,
        symbols.map(([sym, tape]) => quote(sym, tape)),
      );
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

export interface Received {
  /** When the client got the frame (epoch ms). */
  at: number;
  message: Record<string, unknown>;
}

const openClients = new Set<Client>();

/**
 * Closes every client still open. A hub's HTTP server waits for upgraded sockets when it stops,
 * so tests close their clients first.
 */
export async function closeClients(): Promise<void> {
  const waiting = [...openClients].map((client) => {
    client.close();
    return client.waitClosed().catch(() => client.ws.terminate());
  });
  await Promise.all(waiting);
}

/** Client socket settings a test may change: answering pings (`autoPong`), asking for permessage-deflate. */
export type ClientSocketOptions = Pick<WebSocket.ClientOptions, 'autoPong' | 'perMessageDeflate'>;

/** A `/stocks` client that records every array element it receives with its arrival time. */
export class Client {
  readonly ws: WebSocket;
  readonly received: Received[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly #opened: Promise<void>;

  /** `headers`: sent with the upgrade request, e.g. a proxy's `X-Forwarded-For`. */
  constructor(port: number, headers?: Record<string, string>, options?: ClientSocketOptions) {
    this.ws = new WebSocket(`ws://127.0.0.1:${port}/stocks`, {
      perMessageDeflate: false,
      headers,
      ...options,
    });
    this.ws.on('message', (data) => {
      const at = Date.now();
      const parsed = JSON.parse(String(data)) as Array<Record<string, unknown>>;
      for (const message of parsed) this.received.push({ at, message });
    });
    openClients.add(this);
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      openClients.delete(this);
    });
    this.ws.on('error', () => undefined);
    this.#opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  static async connect(
    port: number,
    headers?: Record<string, string>,
    options?: ClientSocketOptions,
  ): Promise<Client> {
    const client = new Client(port, headers, options);
    await client.#opened;
    await client.waitFor((m) => m.status === 'connected');
    return client;
  }

  /** Connects and authenticates; resolves after `auth_success`. */
  static async authenticated(
    port: number,
    token: string,
    headers?: Record<string, string>,
    options?: ClientSocketOptions,
  ): Promise<Client> {
    const client = await Client.connect(port, headers, options);
    client.send({ action: 'auth', params: token });
    await client.waitFor((m) => m.status === 'auth_success');
    return client;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  statuses(): Array<Record<string, unknown>> {
    return this.received.filter((r) => r.message.ev === 'status').map((r) => r.message);
  }

  events(ev?: string): Received[] {
    return this.received.filter(
      (r) => r.message.ev !== 'status' && (ev === undefined || r.message.ev === ev),
    );
  }

  /** Waits for a message matching `match` (among all received so far), returning it. */
  async waitFor(
    match: (message: Record<string, unknown>) => boolean,
    timeoutMs = 5_000,
  ): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await until(
      () => {
        found = this.received.find((r) => match(r.message))?.message;
        return found !== undefined;
      },
      'a matching message',
      timeoutMs,
    );
    return found as Record<string, unknown>;
  }

  /** Subscribes and waits for one status per channel. */
  async subscribe(params: string): Promise<Array<Record<string, unknown>>> {
    const before = this.statuses().length;
    const count = params.split(',').length;
    this.send({ action: 'subscribe', params });
    await until(() => this.statuses().length >= before + count, `statuses for ${params}`);
    return this.statuses().slice(before, before + count);
  }

  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
    await until(() => this.closed !== undefined, 'the connection to close', timeoutMs);
    return this.closed as { code: number; reason: string };
  }

  close(): void {
    this.ws.close();
  }
}

export async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The part of the `websocket` package's W3C client that Polygon's SDK hands an app. */
interface W3CSocket {
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number }) => void) | null;
  send(data: string): void;
  close(): void;
}

/** An app built on `@polygon.io/client-js`, unchanged: it sends `subscribe` once authenticated. */
export interface SdkApp {
  /** Every message received, in order, statuses included. */
  readonly messages: Array<Record<string, unknown>>;
  /** The close code, once the socket has closed. */
  readonly closed: number | undefined;
  close(): void;
}

/** Opens `websocketClient(token, edge).stocks()` and, on `auth_success`, sends `subscribe` (plus `extra` keys). */
export function sdkApp(
  port: number,
  token: string,
  params: string,
  extra: Record<string, unknown> = {},
): SdkApp {
  const socket = websocketClient(token, `ws://127.0.0.1:${port}`).stocks() as W3CSocket;
  const messages: Array<Record<string, unknown>> = [];
  let closed: number | undefined;
  socket.onclose = (event) => {
    closed = event.code;
  };
  socket.onmessage = (event) => {
    for (const message of JSON.parse(String(event.data)) as Array<Record<string, unknown>>) {
      messages.push(message);
      if (message.status === 'auth_success')
        socket.send(JSON.stringify({ action: 'subscribe', params, ...extra }));
    }
  };
  return {
    messages,
    get closed() {
      return closed;
    },
    close: () => socket.close(),
  };
}
