/**
 * Distribution benchmarks. The edge runs in this thread inside a real hub (entitlement cache over
 * PostgreSQL, metering on); the clients run in separate processes, so their parsing is not charged
 * to the edge and heap figures are the edge's alone.
 *
 * - `fanout_*`: 1 000 clients (half real time, half delayed) on the same 50 symbols. Ticks go
 *   through the in-process bus into the edge; a real-time client's frames are captured, then a
 *   bare `ws` server broadcasts exactly those frames to the same real-time clients. Frames/s is
 *   frames received by clients per second, end to end, medians of 3 runs each.
 * - `heap_per_conn_kb`: heap growth per authenticated connection that subscribes to nothing.
 * - `latency_*`: vendor time → client through Redis at 50 000 events/s over 1 000 symbols, 1 000
 *   clients each on 5 symbols (half real time, half delayed), publisher in its own thread, timed
 *   from a second after its first event (the warm-up: connections, JIT, the first turns). The
 *   timed clients have a process of their own: in one process with the other 900, a timed socket's
 *   frame waited behind every other socket's frames of the turn, a queue no real client has.
 *   `latency_client_loop_lag_p99_ms` is that process's event-loop delay, the bound on how late it
 *   can have noticed a frame (and on how much of the latency is the machine, not the edge).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createClient } from 'redis';
import WebSocket, { WebSocketServer } from 'ws';
import { createEdgeStarter, type Hub, startHub } from '../app/index.js';
import { loadCatalog, parseEnv } from '../config/index.js';
import type { EdgeOptions } from '../distribution/index.js';
import {
  acceptAgreement,
  createUser,
  grant,
  issueToken,
  publishChanges,
  type VerbOutcome,
} from '../entitlements/index.js';
import { encodeBatch, type Quote, type Tape } from '../ingest/index.js';
import type { Actor, VerbContext } from '../platform/actor.js';
import { type Bus, openBus, shardOf } from '../platform/bus/index.js';
import { openDb } from '../platform/db/index.js';
import { silentLogger } from '../platform/logger.js';
import { DELAYED_TOKEN, startBareRelay } from './bare-relay.js';
import { type Figures, median, percentile, type Section } from './figures.js';

const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CLIENTS = 1_000;
const FANOUT_SYMBOLS = 50;
const FANOUT_ROUNDS = 400;
const RUNS = 3;
const LATENCY_SYMBOLS = 1_000;
const LATENCY_RATE = 50_000;
const LATENCY_SECONDS = 5;
/** Edge and bare-relay runs, alternately: each figure is the median of its runs. */
const LATENCY_PAIRS = 7;
/** Clients whose every event is timed (the others only count), to keep the worker's parsing bounded. */
const LATENCY_SAMPLED = 100;
const ADMIN: Actor = { type: 'operator', id: 'bench', role: 'admin' };

type ToWorker =
  | { cmd: 'connect'; url: string; clients: ClientSpec[]; capture: boolean }
  | { cmd: 'expect'; marker: string; count: number }
  /** Starts timing: events with `t` from `from` on, and the thread's event-loop delay. */
  | { cmd: 'measure'; from: number }
  | { cmd: 'latency' }
  | { cmd: 'close' };

export interface ClientSpec {
  token?: string;
  subscribe?: string;
  timed?: boolean;
  /** Offers permessage-deflate (the edge uses it if enabled). */
  deflate?: boolean;
}

type FromWorker =
  | { ev: 'ready' }
  /** `payloadBytes`: the frames' bytes as the clients read them; `wireBytes`: what their sockets read meanwhile. */
  | { ev: 'done'; frames: number; captured: Uint8Array[]; payloadBytes: number; wireBytes: number }
  | { ev: 'latency'; samples: number[]; loopLagP99Ms: number }
  | { ev: 'closed' };

/** Set in a clients process's environment: this module then runs as that process. */
const CLIENTS_PROCESS = 'MDHUB_BENCH_CLIENTS';

/** The clients process's side: opens the clients, counts frames, reports. */
function runClients(): void {
  let sockets: WebSocket[] = [];
  let frames = 0;
  let captured: Uint8Array[] = [];
  let capturing = false;
  let marker: Buffer | undefined;
  let markersLeft = 0;
  let payloadBytes = 0;
  let wireFrom = 0;
  const wireRead = () =>
    sockets.reduce(
      (sum, ws) => sum + ((ws as unknown as { _socket?: { bytesRead: number } })._socket?.bytesRead ?? 0),
      0,
    );
  let samples: number[] = [];
  let timedFrom = Number.POSITIVE_INFINITY;
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  const post = (message: FromWorker) => process.send?.(message);

  process.on('message', async (message: ToWorker) => {
    if (message.cmd === 'connect') {
      frames = 0;
      captured = [];
      capturing = message.capture;
      samples = [];
      // A socket reset while hundreds open at once on a loaded machine is tried again; one that
      // keeps failing ends this process, which the parent reports instead of waiting for ever.
      sockets = await Promise.all(
        message.clients.map((spec, index) => openRetrying(message.url, spec, index === 0)),
      ).catch((err: Error) => {
        process.stderr.write(`bench clients: could not open a socket to ${message.url}: ${err.message}\n`);
        process.exit(1);
      });
      post({ ev: 'ready' });
    } else if (message.cmd === 'expect') {
      frames = 0;
      captured = [];
      marker = Buffer.from(message.marker);
      markersLeft = message.count;
      payloadBytes = 0;
      wireFrom = wireRead();
    } else if (message.cmd === 'measure') {
      samples = [];
      timedFrom = message.from;
      loopDelay.reset();
      loopDelay.enable();
    } else if (message.cmd === 'latency') {
      loopDelay.disable();
      post({ ev: 'latency', samples, loopLagP99Ms: loopDelay.percentile(99) / 1e6 });
    } else {
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) resolve();
              else {
                ws.once('close', () => resolve());
                ws.close();
              }
            }),
        ),
      );
      sockets = [];
      post({ ev: 'closed' });
    }
  });

  async function openRetrying(url: string, spec: ClientSpec, first: boolean): Promise<WebSocket> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await open(url, spec, first);
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(100 * attempt);
      }
    }
  }

  function open(url: string, spec: ClientSpec, first: boolean): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      // The edge's frames are valid UTF-8 by construction; checking them is the bench's cost, not the edge's.
      const ws = new WebSocket(url, { perMessageDeflate: spec.deflate === true, skipUTF8Validation: true });
      let pending = spec.token === undefined ? 0 : 1 + (spec.subscribe?.split(',').length ?? 0);
      ws.on('error', reject);
      ws.on('open', () => {
        if (spec.token === undefined) resolve(ws);
        else ws.send(JSON.stringify({ action: 'auth', params: spec.token }));
      });
      ws.on('message', (data: Buffer) => {
        // Read first: the receipt time is the earliest this thread could have seen the frame.
        const receivedAt = Date.now();
        if (pending > 0) {
          const text = data.toString();
          if (text.includes('"auth_success"')) {
            pending--;
            if (spec.subscribe) ws.send(JSON.stringify({ action: 'subscribe', params: spec.subscribe }));
          } else if (text.includes('"success"')) pending -= text.split('"success"').length - 1;
          if (pending === 0) resolve(ws);
          return;
        }
        frames++;
        payloadBytes += data.length;
        if (first && capturing) captured.push(new Uint8Array(data));
        if (spec.timed) {
          for (const event of JSON.parse(data.toString()) as Array<{ t?: number }>) {
            if (event.t !== undefined && event.t >= timedFrom) samples.push(receivedAt - event.t);
          }
        }
        if (marker !== undefined && data.includes(marker)) {
          markersLeft--;
          if (markersLeft === 0)
            post({ ev: 'done', frames, captured, payloadBytes, wireBytes: wireRead() - wireFrom });
        }
      });
    });
  }
}

/** The publisher thread of the latency run: LATENCY_RATE events/s over Redis, `t` = now. */
async function runPublisher(options: { prefix: string; seconds: number }): Promise<void> {
  const bus = await openBus({ url: REDIS_URL, prefix: options.prefix });
  parentPort?.postMessage('publishing');
  const tickMs = 10;
  const perTick = (LATENCY_RATE * tickMs) / 1_000;
  const symbols = Array.from({ length: LATENCY_SYMBOLS }, (_, n) => `L${n}`);
  let next = 0;
  const end = Date.now() + options.seconds * 1_000;
  let due = Date.now();
  while (Date.now() < end) {
    const events: Quote[] = [];
    const now = Date.now();
    for (let i = 0; i < perTick; i++) events.push(quote(symbols[next++ % symbols.length] as string, now, 10));
    await publish(bus, events);
    due += tickMs;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await bus.close();
  parentPort?.postMessage('published');
}

if (process.env[CLIENTS_PROCESS] === '1') runClients();
else if (!isMainThread) void runPublisher(workerData as { prefix: string; seconds: number });

let sequence = 0;

function quote(sym: string, t: number, price: number): Quote {
  return {
    ev: 'Q',
    sym,
    bx: 11,
    bp: price,
    bs: 2,
    ax: 12,
    ap: price + 0.01,
    as: 3,
    c: undefined,
    i: undefined,
    t,
    q: ++sequence,
    z: 1,
  };
}

async function publish(bus: Bus, events: readonly Quote[]): Promise<void> {
  const byShard = new Map<number, Array<{ event: Quote; tape: Tape }>>();
  for (const event of events) {
    const shard = shardOf(event.sym, bus.ticks.shards);
    let list = byShard.get(shard);
    if (list === undefined) {
      list = [];
      byShard.set(shard, list);
    }
    list.push({ event, tape: event.z });
  }
  await bus.ticks.publish([...byShard].map(([shard, list]) => ({ shard, payload: encodeBatch(list) })));
}

/** A process of clients (this module, forked), and its answers, one awaited at a time. */
export class ClientsProcess {
  readonly child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, [CLIENTS_PROCESS]: '1' },
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  readonly #waiting: Array<{ resolve: (message: FromWorker) => void; reject: (err: Error) => void }> = [];
  #stopping = false;

  constructor() {
    this.child.on('message', (message) => this.#waiting.shift()?.resolve(message as FromWorker));
    // A clients process that dies (a socket it could not open) fails the bench, never hangs it.
    this.child.on('exit', (code, signal) => {
      const err = new Error(`a bench clients process exited (${signal ?? `code ${code}`}) before answering`);
      for (const waiting of this.#waiting.splice(0)) if (!this.#stopping) waiting.reject(err);
    });
  }

  request(message: ToWorker): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        reject(new Error('a bench clients process has exited'));
        return;
      }
      this.#waiting.push({ resolve, reject });
      this.child.send(message);
    });
  }

  /** Sends `message` without waiting for an answer; the next answer goes to `next()`. */
  send(message: ToWorker): void {
    this.child.send(message);
  }

  next(): Promise<FromWorker> {
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    this.child.kill();
    await exited;
  }
}

async function run<T>(
  hub: Hub,
  verb: (ctx: VerbContext & { catalog: Hub['ctx']['catalog'] }) => Promise<VerbOutcome<T>>,
) {
  const { db, bus, catalog } = hub.ctx;
  const outcome = await db.transaction((tx) => verb({ actor: ADMIN, tx, at: Date.now(), catalog }));
  await publishChanges(db, bus.control);
  return outcome.value;
}

/** A user allowed many sessions, real time on every product or on none. */
export async function benchUser(hub: Hub, id: string, realtime: boolean): Promise<string> {
  await run(hub, (ctx) => createUser({ ctx, input: { id, sessionLimit: 100_000 } }));
  if (realtime) {
    for (const product of hub.ctx.catalog.products.keys()) {
      await run(hub, (ctx) => acceptAgreement({ ctx, input: { userId: id, product } }));
      await run(hub, (ctx) => grant({ ctx, input: { userId: id, product } }));
    }
  }
  const { token } = await run(hub, (ctx) => issueToken({ ctx, input: { userId: id } }));
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${hub.port}/v1/last/quote/NONE?apiKey=${token}`);
    if (res.status !== 401) return token;
    await sleep(20);
  }
}

export async function startBenchHub(options: {
  redis: boolean;
  schema: string;
  prefix: string;
  env?: Record<string, string>;
  /** Over the bench's edge options. */
  edge?: Partial<EdgeOptions>;
}): Promise<Hub> {
  const env = parseEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: POSTGRES_URL,
    MDHUB_LOG_LEVEL: 'silent',
    MDHUB_DELAY_MS: '3600000',
    // The edge's usage spool file goes here, not into the working directory.
    MDHUB_DATA_DIR: mkdtempSync(join(tmpdir(), 'mdhub-bench-')),
    ...(options.redis ? { REDIS_URL } : {}),
    ...options.env,
  });
  return startHub({
    env,
    catalog: loadCatalog(undefined, env.MDHUB_DELAY_MS),
    logger: silentLogger,
    roles: ['edge'],
    starters: {
      edge: createEdgeStarter({
        // Every bench client comes from 127.0.0.1: the per-address limits would see one client.
        options: {
          authBurst: 100_000,
          preauthSocketsPerAddress: 100_000,
          delayBackfill: false,
          usageFlushMs: 60_000,
          ...options.edge,
        },
      }),
    },
    dbSchema: options.schema,
    busPrefix: options.prefix,
  });
}

/**
 * Drops a bench hub's schema once the hub has stopped (its own database handle is closed by then,
 * so the drop goes through a connection of its own).
 */
export async function dropBenchSchema(schema: string): Promise<void> {
  const db = await openDb({ url: POSTGRES_URL });
  try {
    await db.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await db.close();
  }
}

async function deleteKeys(prefix: string): Promise<void> {
  const client = await createClient({ url: REDIS_URL }).connect();
  for await (const keys of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1_000 })) {
    if (keys.length > 0) await client.del(keys);
  }
  await client.close();
}

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** What RUNS fan-out runs through an edge gave: frames/s per run, the frames captured, bytes read. */
export interface EdgeFanout {
  rates: number[];
  frameSets: Uint8Array[][];
  payloadBytes: number;
  wireBytes: number;
}

/**
 * CLIENTS clients (half real time, half delayed) on FANOUT_SYMBOLS symbols, `rounds` rounds
 * (FANOUT_ROUNDS) of one quote each published RUNS times; `deflate`: the clients offer permessage-deflate.
 */
export async function edgeFanout(
  hub: Hub,
  clients: ClientsProcess,
  tokens: { rt: string; dl: string },
  { deflate = false, rounds = FANOUT_ROUNDS }: { deflate?: boolean; rounds?: number } = {},
): Promise<EdgeFanout> {
  const params = Array.from({ length: FANOUT_SYMBOLS }, (_, n) => `Q.F${n}`).join(',');
  const specs: ClientSpec[] = Array.from({ length: CLIENTS }, (_, n) => ({
    token: n % 2 === 0 ? tokens.rt : tokens.dl,
    subscribe: params,
    deflate,
  }));
  const realtimeClients = CLIENTS / 2;
  await clients.request({
    cmd: 'connect',
    url: `ws://127.0.0.1:${hub.port}/stocks`,
    clients: specs,
    capture: true,
  });
  const symbols = Array.from({ length: FANOUT_SYMBOLS }, (_, n) => `F${n}`);
  const result: EdgeFanout = { rates: [], frameSets: [], payloadBytes: 0, wireBytes: 0 };
  for (let runIndex = 0; runIndex < RUNS; runIndex++) {
    const price = 990_000 + runIndex;
    clients.send({ cmd: 'expect', marker: `"bp":${price}`, count: realtimeClients });
    const done = clients.next();
    const started = performance.now();
    for (let round = 0; round < rounds; round++) {
      const now = Date.now();
      await publish(
        hub.ctx.bus,
        symbols.map((sym) => quote(sym, now, 10)),
      );
    }
    await publish(hub.ctx.bus, [quote('F0', Date.now(), price)]);
    const run = (await done) as Extract<FromWorker, { ev: 'done' }>;
    result.rates.push(run.frames / ((performance.now() - started) / 1_000));
    result.frameSets.push(run.captured);
    result.payloadBytes += run.payloadBytes;
    result.wireBytes += run.wireBytes;
  }
  await clients.request({ cmd: 'close' });
  return result;
}

async function fanoutFigures(hub: Hub, clients: ClientsProcess, tokens: { rt: string; dl: string }) {
  const realtimeClients = CLIENTS / 2;
  const { rates: edgeRates, frameSets } = await edgeFanout(hub, clients, tokens);
  const bareRates: number[] = [];
  const bare = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise((resolve) => bare.once('listening', resolve));
  const barePort = (bare.address() as AddressInfo).port;

  const bareSpecs: ClientSpec[] = Array.from({ length: realtimeClients }, () => ({}));
  const connected: WebSocket[] = [];
  bare.on('connection', (ws) => connected.push(ws));
  await clients.request({
    cmd: 'connect',
    url: `ws://127.0.0.1:${barePort}`,
    clients: bareSpecs,
    capture: false,
  });
  for (let runIndex = 0; runIndex < RUNS; runIndex++) {
    const frames = (frameSets[runIndex] ?? []).map((frame) => Buffer.from(frame));
    clients.send({ cmd: 'expect', marker: `"bp":${990_000 + runIndex}`, count: realtimeClients });
    const done = clients.next();
    const started = performance.now();
    for (const frame of frames) for (const ws of connected) ws.send(frame, { binary: false });
    const result = (await done) as Extract<FromWorker, { ev: 'done' }>;
    bareRates.push(result.frames / ((performance.now() - started) / 1_000));
  }
  await clients.request({ cmd: 'close' });
  bare.close();
  const fanout = median(edgeRates);
  const bareRate = median(bareRates);
  return { fanout, bareRate };
}

async function idleHeapPerConnection(hub: Hub, clients: ClientsProcess, token: string): Promise<number> {
  const specs: ClientSpec[] = Array.from({ length: CLIENTS }, () => ({ token }));
  await sleep(200);
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  await clients.request({
    cmd: 'connect',
    url: `ws://127.0.0.1:${hub.port}/stocks`,
    clients: specs,
    capture: false,
  });
  await sleep(200);
  collectGarbage();
  const after = process.memoryUsage().heapUsed;
  await clients.request({ cmd: 'close' });
  return (after - before) / CLIENTS;
}

export interface LatencyRun {
  p50: number;
  p99: number;
  clientLagP99: number;
}

/**
 * One latency run against `url`: the clients connect (tokens as given: the bare relay ignores
 * them), the publisher sends LATENCY_RATE events/s on `prefix`'s tick streams, the timed clients
 * report vendor time → receipt.
 */
async function latencyRun(
  url: string,
  prefix: string,
  tokens: { rt: string; dl: string },
): Promise<LatencyRun> {
  const timed = new ClientsProcess();
  const others = new ClientsProcess();
  try {
    const specs: ClientSpec[] = Array.from({ length: CLIENTS }, (_, n) => ({
      token: n % 2 === 0 ? tokens.rt : tokens.dl,
      subscribe: Array.from({ length: 5 }, (_, k) => `Q.L${(n * 5 + k) % LATENCY_SYMBOLS}`).join(','),
      timed: n % 2 === 0 && n < LATENCY_SAMPLED * 2,
    }));
    await Promise.all([
      timed.request({ cmd: 'connect', url, clients: specs.filter((spec) => spec.timed), capture: false }),
      others.request({ cmd: 'connect', url, clients: specs.filter((spec) => !spec.timed), capture: false }),
    ]);
    const publisher = new Worker(new URL(import.meta.url), {
      workerData: { prefix, seconds: LATENCY_SECONDS },
    });
    const next = () => new Promise((resolve) => publisher.once('message', resolve));
    // The first second of traffic warms up connections and JIT; it is not what the bar is about.
    // It counts from the publisher's first event: loading this module takes the thread over a
    // second, and a window counted from its creation timed the cold start itself.
    await next();
    timed.send({ cmd: 'measure', from: Date.now() + 1_000 });
    await next();
    await publisher.terminate();
    await sleep(200);
    const { samples, loopLagP99Ms } = (await timed.request({ cmd: 'latency' })) as Extract<
      FromWorker,
      { ev: 'latency' }
    >;
    await Promise.all([timed.request({ cmd: 'close' }), others.request({ cmd: 'close' })]);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99), clientLagP99: loopLagP99Ms };
  } finally {
    await Promise.all([timed.stop(), others.stop()]);
  }
}

async function edgeLatency(): Promise<LatencyRun> {
  const schema = `bench_lat_${randomBytes(4).toString('hex')}`;
  const prefix = `bench-lat-${randomBytes(4).toString('hex')}`;
  const hub = await startBenchHub({ redis: true, schema, prefix });
  try {
    const rt = await benchUser(hub, 'lat-rt', true);
    const dl = await benchUser(hub, 'lat-dl', false);
    return await latencyRun(`ws://127.0.0.1:${hub.port}/stocks`, prefix, { rt, dl });
  } finally {
    await hub.stop();
    await dropBenchSchema(schema);
    await deleteKeys(prefix);
  }
}

async function bareRelayLatency(): Promise<LatencyRun> {
  const prefix = `bench-relay-${randomBytes(4).toString('hex')}`;
  const relay = await startBareRelay({ redisUrl: REDIS_URL, prefix });
  try {
    return await latencyRun(relay.url, prefix, { rt: 'realtime', dl: DELAYED_TOKEN });
  } finally {
    await relay.stop();
    await deleteKeys(prefix);
  }
}

/**
 * The edge and the bare relay (bench/bare-relay.ts) at the same load, alternately, LATENCY_PAIRS
 * times: the ratio of the medians says how much of the edge's latency is the edge, whatever the
 * machine adds to both.
 */
export async function latencyFigures(
  pairs = LATENCY_PAIRS,
): Promise<{ edge: LatencyRun; bare: LatencyRun; runs: { edge: LatencyRun; bare: LatencyRun }[] }> {
  const runs: { edge: LatencyRun; bare: LatencyRun }[] = [];
  for (let pair = 0; pair < pairs; pair++) {
    const edge = await edgeLatency();
    runs.push({ edge, bare: await bareRelayLatency() });
  }
  const medianOf = (of: LatencyRun[]): LatencyRun => ({
    p50: median(of.map((r) => r.p50)),
    p99: median(of.map((r) => r.p99)),
    clientLagP99: median(of.map((r) => r.clientLagP99)),
  });
  return { edge: medianOf(runs.map((r) => r.edge)), bare: medianOf(runs.map((r) => r.bare)), runs };
}

export const distributionSection: Section = {
  name: 'distribution',
  async run(): Promise<Figures> {
    const schema = `bench_dist_${randomBytes(4).toString('hex')}`;
    const hub = await startBenchHub({ redis: false, schema, prefix: 'unused' });
    const clients = new ClientsProcess();
    let fanout: { fanout: number; bareRate: number };
    let heap: number;
    try {
      const rt = await benchUser(hub, 'bench-rt', true);
      const dl = await benchUser(hub, 'bench-dl', false);
      heap = await idleHeapPerConnection(hub, clients, rt);
      fanout = await fanoutFigures(hub, clients, { rt, dl });
    } finally {
      await clients.stop();
      await hub.stop();
      await dropBenchSchema(schema);
    }
    const latency = await latencyFigures();
    return {
      fanout_ratio_vs_ws: { value: fanout.fanout / fanout.bareRate, unit: 'ratio', goal: '>= 0.8' },
      fanout_frames_per_s: { value: fanout.fanout, unit: 'frames/s', goal: 'baseline' },
      bare_ws_frames_per_s: { value: fanout.bareRate, unit: 'frames/s', goal: 'baseline' },
      heap_per_conn_kb: { value: heap / 1024, unit: 'KiB', goal: '<= 16' },
      latency_p50_ms: { value: latency.edge.p50, unit: 'ms', goal: 'baseline' },
      latency_p99_ms: {
        value: latency.edge.p99,
        unit: 'ms',
        goal: 'reported (<= 10 on a dedicated host)',
      },
      latency_client_loop_lag_p99_ms: { value: latency.edge.clientLagP99, unit: 'ms', goal: 'baseline' },
      bare_relay_latency_p50_ms: { value: latency.bare.p50, unit: 'ms', goal: 'baseline' },
      bare_relay_latency_p99_ms: { value: latency.bare.p99, unit: 'ms', goal: 'baseline' },
      latency_p99_ratio_vs_bare: {
        value: latency.edge.p99 / latency.bare.p99,
        unit: 'ratio',
        goal: '<= 1.25',
      },
    };
  },
};
