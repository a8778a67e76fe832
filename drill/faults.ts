/**
 * The faults the drill injects while data flows. Each one does the damage, waits for the hub to
 * recover by itself (nothing here repairs anything), and returns what it saw: when it struck, how
 * long recovery took, and any failure in words with its evidence.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import type { AdminClient } from './admin.js';
import type { DrillClient } from './clients.js';
import { hostileTraffic, type ProbeResult } from './hostile.js';
import type { Topology } from './topology.js';
import type { DrillVendor } from './vendor.js';

export interface DrillContext {
  topology: Topology;
  vendor: DrillVendor;
  /** Every honest client, watchers included. */
  clients: DrillClient[];
  /** Clients subscribed to everything in real time: they show whether data flows. */
  watchers: DrillClient[];
  admin: AdminClient;
}

export interface FaultRecord {
  name: string;
  /** When the fault struck. */
  at: number;
  /** End of its window: when the next phase began (set by the runner). */
  end: number;
  recoveryMs: number | undefined;
  notes: string[];
  failures: string[];
  probes?: ProbeResult[];
  /** Work that finishes later (a meter's pending events being claimed); awaited before checking. */
  settled?: Promise<void>;
}

function record(name: string): FaultRecord {
  return { name, at: Date.now(), end: 0, recoveryMs: undefined, notes: [], failures: [] };
}

/** Polls `check` until it is true; resolves to when it became true, or undefined at the deadline. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  pollMs = 20,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() > deadline) return undefined;
    await sleep(pollMs);
  }
}

/** When a watcher first received, in real time, an event the vendor sent after `since`. */
async function dataFlowsAfter(
  ctx: DrillContext,
  since: number,
  timeoutMs: number,
): Promise<number | undefined> {
  const q = ctx.vendor.sent;
  const reached = await until(
    () => ctx.watchers.some((w) => w.lastRealtime.q > q && w.lastRealtime.recv >= since),
    timeoutMs,
    5,
  );
  if (reached === undefined) return undefined;
  return Math.min(...ctx.watchers.filter((w) => w.lastRealtime.q > q).map((w) => w.lastRealtime.recv));
}

/** Events pending in the usage stream's group, per consumer name. */
async function pendingByConsumer(
  redis: { sendCommand(args: string[]): Promise<unknown> },
  key: string,
): Promise<Map<string, number>> {
  const reply = (await redis.sendCommand(['XINFO', 'CONSUMERS', key, 'meters'])) as unknown[][];
  const out = new Map<string, number>();
  for (const fields of reply) {
    const get = (name: string) => fields[fields.indexOf(name) + 1];
    out.set(String(get('name')), Number(get('pending')));
  }
  return out;
}

/**
 * Kills a meter while it holds a batch it has read but not acknowledged (polled on the stream's
 * pending list), then follows the other meter claiming those entries. The claim waits for the
 * meter's `claimMinIdleMs` (30 s, no setting exposes it) plus up to one `claimEveryMs` (10 s).
 */
export async function killMeterMidBatch(ctx: DrillContext, attempts: number): Promise<FaultRecord> {
  const { topology } = ctx;
  const meter = topology.meters[0];
  if (meter === undefined) throw new Error('no meter to kill');
  const redis = createClient({ url: topology.redis.url, RESP: 2, socket: { reconnectStrategy: () => 200 } });
  redis.on('error', () => undefined);
  await redis.connect();
  const key = `${topology.prefix}:work:{usage}`;
  const fault = record('meter killed mid-batch');
  let consumer: string | undefined;
  let left = 0;
  // A batch is pending for milliseconds: a kill can land just after its acknowledgement, so a
  // miss restarts the meter and tries again.
  for (let attempt = 1; attempt <= attempts && left === 0; attempt++) {
    if (attempt > 1) {
      meter.restart();
      await meter.waitHealthy();
    }
    const pid = meter.pid;
    const named = await until(
      async () => [...(await pendingByConsumer(redis, key)).keys()].some((name) => name.includes(`-${pid}-`)),
      10_000,
    );
    consumer = [...(await pendingByConsumer(redis, key)).keys()].find((name) => name.includes(`-${pid}-`));
    if (named === undefined || consumer === undefined) {
      fault.failures.push(`meter pid ${pid} never joined the consumer group`);
      break;
    }
    const holding = consumer;
    await until(
      async () =>
        ((await redis.sendCommand(['XPENDING', key, 'meters', '-', '+', '1', holding])) as unknown[]).length >
        0,
      10_000,
      1,
    );
    await meter.kill('SIGKILL');
    fault.at = Date.now();
    left = (await pendingByConsumer(redis, key)).get(holding) ?? 0;
    if (left === 0) fault.notes.push(`attempt ${attempt}: killed between batches`);
  }
  if (left === 0) {
    fault.failures.push(`no kill in ${attempts} attempts caught the meter holding an unacknowledged batch`);
    await redis.quit();
    return fault;
  }
  const holding = consumer as string;
  fault.notes.push(`killed holding ${left} unacknowledged entries`);
  fault.settled = (async () => {
    const claimed = await until(
      async () => {
        try {
          return ((await pendingByConsumer(redis, key)).get(holding) ?? 0) === 0;
        } catch {
          return false;
        }
      },
      120_000,
      250,
    );
    if (claimed === undefined)
      fault.failures.push(`its ${left} pending entries were not claimed within 120 s`);
    else {
      fault.recoveryMs = claimed - fault.at;
      fault.notes.push(`the other meter claimed them after ${(fault.recoveryMs / 1000).toFixed(1)} s`);
    }
    await redis.quit().catch(() => undefined);
  })();
  return fault;
}

/** SIGKILLs the ingest leader; the standby must take over without ever overlapping it. */
export async function killIngestLeader(ctx: DrillContext): Promise<FaultRecord> {
  const { topology, vendor } = ctx;
  const fault = record('ingest leader killed');
  const leader = await topology.ingestLeader();
  if (leader === undefined) {
    fault.failures.push('no ingest process reports itself leader');
    return fault;
  }
  fault.at = Date.now();
  await leader.kill('SIGKILL');
  const flowing = await dataFlowsAfter(ctx, fault.at, 30_000);
  if (flowing === undefined) fault.failures.push('no real-time data reached any watcher within 30 s');
  else fault.recoveryMs = flowing - fault.at;
  const standby = await topology.ingestLeader();
  fault.notes.push(`${leader.name} killed; ${standby ? `${standby.name} leads` : 'no leader'}`);
  leader.restart();
  await leader.waitHealthy();
  fault.notes.push(`most vendor connections authenticated at once so far: ${vendor.server.maxSimultaneous}`);
  if (vendor.server.maxSimultaneous > 1)
    fault.failures.push(`the vendor saw ${vendor.server.maxSimultaneous} simultaneous connections`);
  return fault;
}

/**
 * SIGKILLs the drill's Redis and starts it again a second later on the same port and files.
 * Edges keep their sockets; usage events wait in the edges' spools until the bus stores them.
 * While it is down, `victim` loses real time for `product`: the change feed cannot carry that
 * revocation, so it shows whether edges learn it before the ticks held up in the outage flow.
 */
export async function restartRedis(
  ctx: DrillContext,
  downMs: number,
  victim: { user: string; product: string },
): Promise<FaultRecord> {
  const { topology } = ctx;
  const fault = record('Redis restarted');
  const edges = topology.edges.filter((e) => e.running);
  let maxSpool = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      for (const edge of edges)
        maxSpool = Math.max(maxSpool, (await edge.metric('mdhub_edge_usage_spool_events')) ?? 0);
      await sleep(100);
    }
  })();
  const dropsBefore = ctx.clients.reduce((n, c) => n + c.sessions.length, 0);
  let revoking: Promise<void> = Promise.resolve();
  const { killedAt, upAt } = await topology.redis.crashAndRestart(downMs, () => {
    revoking = ctx.admin.revoke(victim.user, victim.product);
  });
  fault.at = killedAt;
  const revokeError = await revoking.then(
    () => undefined,
    (error: Error) => error.message,
  );
  if (revokeError)
    fault.failures.push(
      `revoking ${victim.user}/${victim.product} while Redis was down failed: ${revokeError}`,
    );
  else fault.notes.push(`${victim.user} lost real time for ${victim.product} while Redis was down`);
  const flowing = await dataFlowsAfter(ctx, upAt, 30_000);
  const drained = await until(
    async () => {
      for (const edge of edges) if ((await edge.metric('mdhub_edge_usage_spool_events')) !== 0) return false;
      return true;
    },
    30_000,
    100,
  );
  sampling = false;
  await sampler;
  if (flowing === undefined)
    fault.failures.push('no real-time data reached any watcher within 30 s of Redis returning');
  if (drained === undefined)
    fault.failures.push('the edges still held usage events 30 s after Redis returned');
  if (flowing !== undefined && drained !== undefined)
    fault.recoveryMs = Math.max(flowing, drained) - killedAt;
  const reconnects = ctx.clients.reduce((n, c) => n + c.sessions.length, 0) - dropsBefore;
  fault.notes.push(
    `down ${upAt - killedAt} ms; edge spools held up to ${maxSpool} usage events, then drained; ${reconnects} client sockets dropped`,
  );
  if (reconnects > 0) fault.failures.push(`${reconnects} client sockets dropped while Redis was down`);
  return fault;
}

/** SIGKILLs an edge; its clients fail over to the other one. */
export async function killEdge(ctx: DrillContext, index: number): Promise<FaultRecord> {
  const { topology } = ctx;
  const fault = record('edge killed');
  const edge = topology.edges[index];
  if (edge === undefined) throw new Error(`no edge ${index}`);
  const moved = ctx.clients.filter((c) => c.current?.edge === index && c.ready);
  fault.at = Date.now();
  await edge.kill('SIGKILL');
  const back = await until(() => moved.every((c) => c.current?.edge !== index && c.ready), 30_000, 10);
  if (back === undefined) {
    const stuck = moved.filter((c) => !(c.current?.edge !== index && c.ready)).length;
    fault.failures.push(`${stuck} of ${moved.length} clients did not reconnect to another edge within 30 s`);
  } else fault.recoveryMs = back - fault.at;
  fault.notes.push(`${edge.name} killed with ${moved.length} clients on it`);
  return fault;
}

/**
 * Hostile traffic against a surviving edge, and malformed frames from the vendor: each probe gets
 * the documented answer, and honest clients keep receiving.
 */
export async function hostile(ctx: DrillContext, edgeIndex: number, token: string): Promise<FaultRecord> {
  const { topology, vendor } = ctx;
  const fault = record('malformed vendor frames + hostile clients');
  const leader = await topology.ingestLeader();
  const before = (await leader?.metric('mdhub_ingest_malformed_total')) ?? 0;
  const sent = vendor.sendMalformed();
  const edge = topology.edges[edgeIndex];
  if (edge === undefined) throw new Error(`no edge ${edgeIndex}`);
  fault.probes = await hostileTraffic(`ws://127.0.0.1:${edge.port}/stocks`, token);
  for (const p of fault.probes)
    if (!p.ok) fault.failures.push(`${p.probe}: expected ${p.expected}; got ${p.observed}`);
  const after = (await leader?.metric('mdhub_ingest_malformed_total')) ?? 0;
  fault.notes.push(
    `${sent} malformed vendor frames sent; the leader counted ${after - before} malformed inputs`,
  );
  if (after - before < sent - 1)
    fault.failures.push(
      `the ingest leader counted only ${after - before} malformed inputs for ${sent} bad frames`,
    );
  const flowing = await dataFlowsAfter(ctx, Date.now(), 10_000);
  if (flowing === undefined) fault.failures.push('real-time data stopped after the hostile traffic');
  fault.recoveryMs = 0;
  return fault;
}

/** One live entitlement change and when the affected client was told. */
export interface Flip {
  user: string;
  product: string;
  kind: 'grant' | 'revoke';
  sentAt: number;
  /** When the admin API answered: the change was committed by then. */
  ackAt: number;
}

/**
 * Grants and revokes real time for the flipper users, one change every `everyMs`, until stopped.
 * Runs through every other fault, so a revocation also lands while Redis is down or an edge dies.
 */
export function flipEntitlements(
  admin: AdminClient,
  flippers: ReadonlyArray<{ user: string; product: string }>,
  everyMs: number,
): { flips: Flip[]; errors: string[]; stop: () => Promise<void> } {
  const flips: Flip[] = [];
  const errors: string[] = [];
  const granted = new Set<string>();
  let running = true;
  const loop = (async () => {
    for (let i = 0; running && flippers.length > 0; i++) {
      const { user, product } = flippers[i % flippers.length] as { user: string; product: string };
      const key = `${user} ${product}`;
      const kind = granted.has(key) ? 'revoke' : 'grant';
      const sentAt = Date.now();
      try {
        if (kind === 'grant') {
          await admin.grant(user, product);
          granted.add(key);
        } else {
          await admin.revoke(user, product);
          granted.delete(key);
        }
        flips.push({ user, product, kind, sentAt, ackAt: Date.now() });
      } catch (error) {
        errors.push(`${kind} ${key}: ${(error as Error).message}`);
      }
      await sleep(everyMs);
    }
  })();
  return {
    flips,
    errors,
    async stop() {
      running = false;
      await loop;
    },
  };
}
