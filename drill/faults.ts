/**
 * The faults the drill injects while data flows. Each one does the damage, waits for the hub to
 * recover by itself (nothing here repairs anything), and returns what it saw: when it struck, how
 * long recovery took, and any failure in words with its evidence.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { PrivatePostgres } from '../testing/index.js';
import { holdTableLock, type TableLock } from '../testing/index.js';
import type { AdminClient } from './admin.js';
import {
  type DrillClient,
  F_MODE,
  F_PRODUCT,
  F_RECV,
  LOG_FIELDS,
  type ModeChange,
  REALTIME,
} from './clients.js';
import { type ClientTruth, ticksIn } from './ground-truth.js';
import { hostileTraffic, type ProbeResult } from './hostile.js';
import type { DrillRedisClient } from './redis.js';
import type { LoopStalls } from './stalls.js';
import type { HubProcess, Topology } from './topology.js';
import type { DrillVendor } from './vendor.js';

export interface DrillContext {
  topology: Topology;
  vendor: DrillVendor;
  /** Every honest client, watchers included. */
  clients: DrillClient[];
  /** Clients subscribed to everything in real time: they show whether data flows. */
  watchers: DrillClient[];
  admin: AdminClient;
  /** Each edge's `/stocks` URL, by index. */
  edgeUrls: readonly string[];
  productIds: readonly string[];
  /** The product of each vendor symbol. */
  symbolProduct: ReadonlyMap<string, string>;
  /** How long after a revocation real time may still arrive (the leak rule's window). */
  switchWindowMs: number;
  /**
   * The edges' bound for a change the feed did not carry: `2 × MDHUB_ENTITLEMENT_VERIFY_MS`. By
   * then the change is in force, or the user is `unverified`.
   */
  verifyBoundMs: number;
  /** The drill's own PostgreSQL, which the restart fault stops and starts; absent on a shared one. */
  postgres?: PrivatePostgres;
  /** The drill's own event-loop stalls, recorded from the start (its clients' receipt times lag by them). */
  stalls: LoopStalls;
}

/** A user whose real time for one product a fault revokes while the hub is impaired. */
export interface Victim {
  user: string;
  product: string;
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
  /** Set by the SIGTERM fault: which edge stopped cleanly, from the signal to its exit. */
  terminatedEdge?: { index: number; signalledAt: number; exitedAt: number };
  /** Set by the edge kill: which edge was SIGKILLed (at `at`). */
  killedEdge?: { index: number };
  /**
   * Entitlement changes committed in this span may be told late by design (the change feed cannot
   * carry them, or no edge can apply them and the user is `unverified` meanwhile): the live-change
   * latency check lists them apart.
   */
  changesHeldBack?: { from: number; to: number; why: string };
  /** Set by the ingest leader kill: the process that took over, and its own lease → first publish. */
  ingestTakeover?: { leader: string | undefined; firstPublishMs: number | undefined };
  /** A note that needs every client's whole log: written once the clients have closed. */
  afterwards?: (truth: ClientTruth) => string;
}

export function record(name: string): FaultRecord {
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
export async function dataFlowsAfter(
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
async function pendingByConsumer(redis: DrillRedisClient, key: string): Promise<Map<string, number>> {
  const reply = await redis.command<unknown[][]>(key, ['XINFO', 'CONSUMERS', key, 'meters']);
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
  const redis = await topology.redis.connect();
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
        (await redis.command<unknown[]>(key, ['XPENDING', key, 'meters', '-', '+', '1', holding])).length > 0,
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

/** A process's `mdhub_ingest_takeover_seconds` histogram: its sum and count. */
async function takeovers(p: HubProcess): Promise<{ sum: number; count: number } | undefined> {
  const [sum, count] = await Promise.all([
    p.metric('mdhub_ingest_takeover_seconds_sum'),
    p.metric('mdhub_ingest_takeover_seconds_count'),
  ]);
  return sum === undefined || count === undefined ? undefined : { sum, count };
}

/**
 * SIGKILLs the ingest leader; the standby must take over without ever overlapping it. Its
 * takeover is measured from the kill to real time reaching a watcher again (the recovery), with the
 * ticks sent in between that no client received, and by the new leader itself (lease taken → its
 * first batch on the bus, `mdhub_ingest_takeover_seconds`).
 */
export async function killIngestLeader(ctx: DrillContext): Promise<FaultRecord> {
  const { topology, vendor } = ctx;
  const fault = record('ingest leader killed');
  const leader = await topology.ingestLeader();
  if (leader === undefined) {
    fault.failures.push('no ingest process reports itself leader');
    return fault;
  }
  const standbys = topology.ingest.filter((p) => p !== leader && p.running);
  const before = new Map(await Promise.all(standbys.map(async (p) => [p, await takeovers(p)] as const)));
  fault.at = Date.now();
  await leader.kill('SIGKILL');
  const flowing = await dataFlowsAfter(ctx, fault.at, 30_000);
  if (flowing === undefined) fault.failures.push('no real-time data reached any watcher within 30 s');
  else fault.recoveryMs = flowing - fault.at;
  const standby = await topology.ingestLeader();
  const was = standby && before.get(standby);
  const now = standby && (await takeovers(standby));
  const firstPublishMs =
    was && now && now.count > was.count ? ((now.sum - was.sum) / (now.count - was.count)) * 1000 : undefined;
  fault.ingestTakeover = { leader: standby?.name, firstPublishMs };
  fault.notes.push(
    `${leader.name} killed; ${
      standby
        ? `${standby.name} leads, ${firstPublishMs === undefined ? 'its takeover not reported' : `its first batch on the bus ${Math.round(firstPublishMs)} ms after it took the lease`}`
        : 'no leader'
    }`,
  );
  fault.afterwards = (truth) => {
    if (fault.recoveryMs === undefined) return 'no takeover: real time never came back';
    const { sent, missed } = ticksIn(vendor.sentAt, truth, fault.at, fault.at + fault.recoveryMs);
    return `taken over: real time again ${fault.recoveryMs} ms after the kill; ${missed} of the ${sent} vendor ticks sent in between reached no client`;
  };
  leader.restart();
  await leader.waitHealthy();
  // Only the takeover's own: an overlap earlier in the run is the whole-drill check's.
  const during = (await vendor.overlaps()).filter((at) => at >= fault.at);
  fault.notes.push(
    during.length === 0
      ? 'never two vendor connections authenticated at once through the takeover'
      : `${during.length} times a vendor connection authenticated while another was`,
  );
  if (during.length > 0)
    fault.failures.push(
      `a vendor connection authenticated while another was, ${during.map((at) => `${at - fault.at} ms`).join(', ')} after the kill`,
    );
  return fault;
}

/** Samples the edges' usage spools every 100 ms until stopped; resolves to the most seen. */
export function spoolSampler(edges: readonly HubProcess[]): { stop: () => Promise<number> } {
  let max = 0;
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      for (const edge of edges)
        max = Math.max(max, (await edge.metric('mdhub_edge_usage_spool_events')) ?? 0);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      sampling = false;
      await loop;
      return max;
    },
  };
}

/** Resolves when every edge in `edges` reports an empty usage spool, or undefined after `timeoutMs`. */
export function spoolsDrained(edges: readonly HubProcess[], timeoutMs: number): Promise<number | undefined> {
  return until(
    async () => {
      for (const edge of edges) if ((await edge.metric('mdhub_edge_usage_spool_events')) !== 0) return false;
      return true;
    },
    timeoutMs,
    100,
  );
}

/** Hub processes that were running before a fault and are not any more: the fault crashed them. */
export function crashed(before: readonly HubProcess[]): string[] {
  return before.filter((p) => !p.running).map((p) => p.name);
}

/** The victim's channels carrying `product`. */
export function channelsOf(ctx: DrillContext, client: DrillClient, product: string): string[] {
  return client.spec.channels.filter((c) => ctx.symbolProduct.get(c.slice(2)) === product);
}

/**
 * What the victim's client saw of its product once the revocation was sent: the first `delayed`
 * notice for one of its channels, and real-time events received more than the switch window after
 * the admin API answered — each one a leak (`late`) unless a live mode status the edge stamped
 * within the window followed it on the socket: then it was sent in time and read late (`readLate`).
 */
function afterRevocation(
  ctx: DrillContext,
  client: DrillClient,
  victim: Victim,
  sentAt: number,
  ackAt: number,
): { told: ModeChange | undefined; lastRealtime: number; late: number; readLate: number } {
  const channels = new Set(channelsOf(ctx, client, victim.product));
  const told = client.modeChanges.find(
    (m) => m.at >= sentAt && m.mode === 'delayed' && channels.has(m.channel),
  );
  const product = ctx.productIds.indexOf(victim.product);
  let lastRealtime = 0;
  let late = 0;
  let readLate = 0;
  for (let i = 0; i < client.log.length; i += LOG_FIELDS) {
    if (client.log[i + F_PRODUCT] !== product || client.log[i + F_MODE] !== REALTIME) continue;
    const recv = client.log[i + F_RECV] as number;
    lastRealtime = Math.max(lastRealtime, recv);
    if (recv <= ackAt + ctx.switchWindowMs) continue;
    // Read late, but sent in time: a mode status the edge stamped within the window followed it.
    const sentBy = client.sentBy(i / LOG_FIELDS);
    if (sentBy !== undefined && sentBy <= ackAt + ctx.switchWindowMs) readLate++;
    else late++;
  }
  return { told, lastRealtime, late, readLate };
}

/**
 * Judges a revocation made while the hub was impaired: the victim must have been told `delayed`
 * within the switch window of the answer, and received no real time of the product after it.
 */
export function judgeRevocation(
  ctx: DrillContext,
  fault: FaultRecord,
  victim: Victim,
  sentAt: number,
  ackAt: number,
): ModeChange | undefined {
  const client = ctx.clients.find((c) => c.user === victim.user);
  if (client === undefined) {
    fault.failures.push(`${victim.user} has no client`);
    return undefined;
  }
  const seen = afterRevocation(ctx, client, victim, sentAt, ackAt);
  const last =
    seen.lastRealtime >= sentAt
      ? `${seen.lastRealtime - ackAt} ms after the answer`
      : 'before the revocation was sent';
  const switched = seen.told?.sentAt ?? seen.told?.at;
  const stamped =
    seen.told?.sentAt === undefined ? '' : `, switched by the edge ${seen.told.sentAt - ackAt} ms after it`;
  fault.notes.push(
    `${victim.user}/${victim.product} revoked (answered ${ackAt - sentAt} ms after sending): ${seen.told ? `told delayed (${seen.told.reason ?? 'no reason'}) ${seen.told.at - ackAt} ms after the answer${stamped}` : 'never told delayed'}; last real-time ${victim.product} event ${last}${seen.readLate > 0 ? `; ${seen.readLate} real-time events read after the window were sent before a status the edge stamped within it` : ''}`,
  );
  if (switched === undefined || switched > ackAt + ctx.switchWindowMs)
    fault.failures.push(
      `${victim.user} was not told ${victim.product} is delayed within ${ctx.switchWindowMs} ms of the revocation`,
    );
  if (seen.late > 0)
    fault.failures.push(
      `${victim.user} received ${seen.late} real-time ${victim.product} events more than ${ctx.switchWindowMs} ms after the revocation answered`,
    );
  return seen.told;
}

interface ProbeAnswer {
  /** The subscription's mode and reason, as the edge answered the subscribe. */
  mode?: string;
  reason?: string;
  /** What went wrong instead (authentication refused, no answer). */
  error?: string;
}

/**
 * A fresh socket of `token` subscribing to `channel`: what the edge answers. Closes it right after
 * (it receives nothing in real time if the answer is right, so it adds nothing to the ledger).
 */
export async function probeSubscribe(
  url: string,
  token: string,
  channel: string,
  timeoutMs: number,
): Promise<ProbeAnswer> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  try {
    return await new Promise<ProbeAnswer>((resolve) => {
      const timer = setTimeout(
        () => resolve({ error: `no subscribe answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
      const done = (answer: ProbeAnswer) => {
        clearTimeout(timer);
        resolve(answer);
      };
      ws.on('close', (code) => done({ error: `closed with ${code}` }));
      ws.on('message', (data: Buffer) => {
        for (const m of JSON.parse(data.toString()) as Array<Record<string, unknown>>) {
          if (m.ev !== 'status') continue;
          if (m.status === 'connected') ws.send(JSON.stringify({ action: 'auth', params: token }));
          else if (m.status === 'auth_success')
            ws.send(JSON.stringify({ action: 'subscribe', params: channel }));
          else if (m.status === 'auth_failed' || m.status === 'error')
            done({ error: `${m.status}: ${String(m.message)}` });
          else if (m.status === 'success')
            done({ mode: m.mode as string | undefined, reason: m.reason as string | undefined });
        }
      });
    });
  } finally {
    await new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once('close', () => resolve());
      ws.close(1000);
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2_000).unref();
    });
  }
}

/**
 * Locks, from a connection of the drill's own, the tables an edge reads to reload a user and a
 * revocation does not write (attestations, agreements, user tokens), revokes `victim`'s product
 * while they are locked, and holds them for `holdMs`. The revocation commits and its notice
 * arrives, but no edge can reload the user: each must withhold the victim's real time (reason
 * `unverified`) within the bound, keep serving everyone else, and apply the change (`no_grant`)
 * once the lock is released.
 */
export async function lockEntitlementTables(
  ctx: DrillContext,
  holdMs: number,
  victim: Victim,
): Promise<FaultRecord> {
  const { topology } = ctx;
  const fault = record('entitlement tables locked');
  const alive = topology.processes.filter((p) => p.running);
  const client = ctx.clients.find((c) => c.user === victim.user);
  if (client === undefined) throw new Error(`${victim.user} has no client`);
  const db = await topology.openDb();
  let releasedAt = 0;
  let sentAt = 0;
  let ackAt = 0;
  let lock: TableLock | undefined;
  try {
    lock = await holdTableLock(db, 'attestations, agreements, user_tokens');
    fault.at = Date.now();
    sentAt = fault.at;
    const status = await ctx.admin.revokeOnce(victim.user, victim.product).catch((e: Error) => e.message);
    ackAt = Date.now();
    if (status !== 200)
      fault.failures.push(
        `revoking ${victim.user}/${victim.product} with the tables locked answered ${status}`,
      );
    // Everyone else keeps real time: past the point where a stalled edge would withhold it from all.
    await sleep(Math.max(0, ackAt + ctx.verifyBoundMs - Date.now()));
    const flowing = await dataFlowsAfter(ctx, Date.now(), Math.max(1_000, fault.at + holdMs - Date.now()));
    if (flowing === undefined)
      fault.failures.push(
        'no watcher received real time while the tables were locked: the lock stalled everyone',
      );
    await sleep(Math.max(0, fault.at + holdMs - Date.now()));
  } finally {
    await lock?.release().catch((e: Error) => fault.failures.push(`the drill's lock failed: ${e.message}`));
    releasedAt = Date.now();
    await db.close();
  }
  fault.changesHeldBack = { from: fault.at, to: releasedAt, why: 'entitlement tables locked' };
  const told = judgeRevocation(ctx, fault, victim, sentAt, ackAt);
  if (told !== undefined && told.reason !== 'unverified')
    fault.notes.push(
      `${victim.user} was told ${told.reason ?? 'no reason'}, not unverified: an edge reloaded before the lock bit`,
    );
  const channels = new Set(channelsOf(ctx, client, victim.product));
  const lastReason = () => client.modeChanges.findLast((m) => channels.has(m.channel))?.reason;
  const applied = await until(() => lastReason() === 'no_grant', 30_000, 20);
  if (applied === undefined)
    fault.failures.push(
      `${victim.user} did not end on delayed/no_grant for ${victim.product} within 30 s of the release (last reason ${lastReason()})`,
    );
  else {
    fault.recoveryMs = applied - fault.at;
    fault.notes.push(
      `tables locked for ${releasedAt - fault.at} ms; ${victim.user} told no_grant ${applied - releasedAt} ms after the release`,
    );
  }
  const down = crashed(alive);
  if (down.length) fault.failures.push(`processes exited while the tables were locked: ${down.join(', ')}`);
  return fault;
}

/** Sends SIGTERM and waits for the exit; SIGKILLs after `graceMs`. Resolves to the exit instant, or undefined if it had to kill. */
async function terminate(p: HubProcess, graceMs: number): Promise<number | undefined> {
  const exited = p.kill('SIGTERM').then(() => Date.now());
  const at = await Promise.race([exited, sleep(graceMs, undefined)]);
  if (at === undefined) await p.kill('SIGKILL');
  return at;
}

/**
 * SIGTERMs one edge and one meter at once while clients stream. The edge closes its sessions
 * (1001), flushes its counters and puts its usage onto the bus; the meter drains what it read.
 * The edge's clients reconnect to the other edge. Both are then started again (same
 * `MDHUB_EDGE_ID`, so the edge finds its spool file). The runner checks that nothing the edge
 * counted, and none of its session ends, is missing from the ledger.
 */
export async function terminateEdgeAndMeter(
  ctx: DrillContext,
  edgeIndex: number,
  meterIndex: number,
): Promise<FaultRecord> {
  const { topology } = ctx;
  const fault = record('edge + meter SIGTERMed');
  const edge = topology.edges[edgeIndex];
  const meter = topology.meters[meterIndex];
  if (edge === undefined || meter === undefined) throw new Error('no edge or meter to terminate');
  const redis = await topology.redis.connect();
  try {
    const key = `${topology.prefix}:work:{usage}`;
    const meterPid = meter.pid;
    const moved = ctx.clients.filter((c) => c.current?.edge === edgeIndex && c.ready);
    fault.at = Date.now();
    const [edgeExit, meterExit] = await Promise.all([terminate(edge, 15_000), terminate(meter, 15_000)]);
    if (edgeExit === undefined) fault.failures.push(`${edge.name} did not exit within 15 s of SIGTERM`);
    if (meterExit === undefined) fault.failures.push(`${meter.name} did not exit within 15 s of SIGTERM`);
    fault.terminatedEdge = { index: edgeIndex, signalledAt: fault.at, exitedAt: edgeExit ?? Date.now() };
    const consumer = [...(await pendingByConsumer(redis, key))].find(([name]) =>
      name.includes(`-${meterPid}-`),
    );
    const pending = consumer?.[1] ?? 0;
    fault.notes.push(
      `${edge.name} exited ${edgeExit === undefined ? 'only when killed' : `${edgeExit - fault.at} ms`} and ${meter.name} ${meterExit === undefined ? 'only when killed' : `${meterExit - fault.at} ms`} after SIGTERM; the meter left ${pending} unacknowledged entries`,
    );
    if (pending > 0)
      fault.failures.push(
        `${meter.name} stopped holding ${pending} unacknowledged usage entries: its drain did not finish`,
      );
    const back = await until(() => moved.every((c) => c.current?.edge !== edgeIndex && c.ready), 30_000, 10);
    if (back === undefined) {
      const stuck = moved.filter((c) => !(c.current?.edge !== edgeIndex && c.ready)).length;
      fault.failures.push(
        `${stuck} of ${moved.length} clients did not reconnect to another edge within 30 s`,
      );
    } else fault.recoveryMs = back - fault.at;
    const codes = new Map<number, number>();
    for (const c of moved) {
      const code = c.sessions.findLast((s) => s.edge === edgeIndex)?.closeCode ?? 0;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    fault.notes.push(
      `${moved.length} clients moved off ${edge.name}, closed with ${[...codes].map(([code, n]) => `${n} × ${code}`).join(', ')}`,
    );
    edge.restart();
    meter.restart();
    await Promise.all([edge.waitHealthy(), meter.waitHealthy()]);
    if ((await spoolsDrained([edge], 15_000)) === undefined)
      fault.failures.push(`${edge.name} still held usage events in its spool 15 s after it started again`);
  } finally {
    await redis.quit().catch(() => undefined);
  }
  return fault;
}

/** SIGKILLs an edge; its clients fail over to the other one. */
export async function killEdge(ctx: DrillContext, index: number): Promise<FaultRecord> {
  const { topology } = ctx;
  const fault = record('edge killed');
  const edge = topology.edges[index];
  if (edge === undefined) throw new Error(`no edge ${index}`);
  const moved = ctx.clients.filter((c) => c.current?.edge === index && c.ready);
  fault.killedEdge = { index };
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
  const sent = await vendor.sendMalformed();
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

/**
 * Stops the drill's own PostgreSQL as a crash would (`pg_ctl stop -m immediate`: every connection
 * cut, no checkpoint) for `downMs`, then starts it again, with data flowing and entitlements
 * changing. While it is down the api must answer 503 `database_unavailable` and `/readyz` not
 * ready naming the database; the edges decide from their caches (real time withheld once a
 * decision is older than the verify bound: fail closed); the meters keep the usage on the bus and
 * back off. Recovery is when the api is ready again and every meter has committed a batch since.
 * The ledger and report checks then prove nothing was lost or counted twice.
 */
export async function restartPostgres(ctx: DrillContext, downMs: number): Promise<FaultRecord> {
  const fault = record('PostgreSQL restarted');
  const server = ctx.postgres;
  const api = ctx.topology.api;
  if (server === undefined || api === undefined) {
    fault.notes.push('skipped: the drill runs on a shared PostgreSQL, which it never restarts');
    return fault;
  }
  const meters = ctx.topology.meters.filter((m) => m.running);
  const batches = async () =>
    Promise.all(meters.map(async (m) => (await m.metric('mdhub_meter_batches_total')) ?? 0));
  const before = await batches();
  await server.kill();
  fault.at = Date.now();
  const readyz = async () => {
    try {
      const res = await fetch(`${api.url}/readyz`);
      const body = (await res.json()) as { checks?: Record<string, { ok: boolean }> };
      return { status: res.status, database: body.checks?.database?.ok };
    } catch {
      return { status: 0, database: undefined };
    }
  };
  const notReadyAt = await until(async () => (await readyz()).status === 503, downMs);
  const seen = await readyz();
  if (notReadyAt === undefined || seen.database !== false)
    fault.failures.push(`/readyz did not say the database is down while it was (${JSON.stringify(seen)})`);
  const refused = await fetch(`${api.url}/admin/users/${encodeURIComponent(ctx.watchers[0]?.user ?? 'x')}`, {
    headers: { authorization: `Bearer ${ctx.topology.adminToken}` },
  }).catch(() => undefined);
  const refusal = refused ? ((await refused.json()) as { error?: { code?: string } }) : undefined;
  if (refused?.status !== 503 || refusal?.error?.code !== 'database_unavailable')
    fault.failures.push(
      `the admin API answered ${refused?.status ?? 'nothing'} ${refusal?.error?.code ?? ''} while PostgreSQL was down, not 503 database_unavailable`,
    );
  const backedOff = await until(
    async () => {
      for (const m of meters) if (((await m.metric('mdhub_meter_retry_delay_seconds')) ?? 0) > 0) return true;
      return false;
    },
    Math.max(0, fault.at + downMs - Date.now()),
  );
  await sleep(Math.max(0, fault.at + downMs - Date.now()));
  await server.start();
  const upAt = Date.now();
  const readyAt = await until(async () => (await readyz()).status === 200, 30_000);
  const committedAt = await until(async () => {
    const now = await batches();
    return now.every((n, i) => n > (before[i] ?? 0));
  }, 30_000);
  if (readyAt === undefined) fault.failures.push('the api was not ready 30 s after PostgreSQL returned');
  if (committedAt === undefined)
    fault.failures.push('a meter had committed no batch 30 s after PostgreSQL returned');
  if (readyAt !== undefined && committedAt !== undefined)
    fault.recoveryMs = Math.max(readyAt, committedAt) - fault.at;
  const after = (at: number | undefined) =>
    at === undefined ? 'never' : `${at - upAt} ms after it returned`;
  fault.notes.push(
    `down ${upAt - fault.at} ms; /readyz not ready ${notReadyAt === undefined ? 'never' : `${notReadyAt - fault.at} ms after the kill`}, the admin API answered 503 database_unavailable; meters backed off: ${backedOff === undefined ? 'no batch failed meanwhile' : 'yes'}; api ready ${after(readyAt)}, every meter committing ${after(committedAt)}`,
  );
  fault.changesHeldBack = {
    from: fault.at,
    to: (readyAt ?? upAt + 30_000) + ctx.verifyBoundMs,
    why: 'PostgreSQL down: a change waits for it (the admin API answers 503 meanwhile), and decisions unverified past the bound are delayed',
  };
  return fault;
}
