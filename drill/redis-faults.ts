/**
 * The drill's Redis faults: refusing writes (one server or every node of the cluster), a restart
 * of the one server (`--single-redis`), and a master failover of the cluster (the default). Each
 * revokes a connected user's product while Redis is impaired, and waits for the hub to recover by
 * itself: real time flowing to the watchers again and every edge's usage spool empty, with no
 * client socket dropped and no hub process exited.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { F_MODE, F_PRODUCT, F_RECV, LOG_FIELDS, REALTIME } from './clients.js';
import {
  channelsOf,
  crashed,
  type DrillContext,
  dataFlowsAfter,
  type FaultRecord,
  judgeRevocation,
  probeSubscribe,
  record,
  spoolSampler,
  spoolsDrained,
  type Victim,
} from './faults.js';

/** The client sockets opened so far, every reconnect included. */
function socketsOpened(ctx: DrillContext): number {
  return ctx.clients.reduce((n, c) => n + c.sessions.length, 0);
}

/**
 * Makes the drill's Redis refuse writes (out of memory) for `refuseMs`, and meanwhile revokes
 * `victim`'s product through the admin API: the change commits to PostgreSQL and its notice cannot
 * be published, so only the edges' own check of the change head can apply it. Ticks, usage events
 * and session-slot renewals are refused too; the hub must stay up and recover by itself once Redis
 * takes writes again. A new socket of the victim opened during the refusal must not get real time.
 */
export async function refuseRedisWrites(
  ctx: DrillContext,
  refuseMs: number,
  victim: Victim,
): Promise<FaultRecord> {
  const { topology } = ctx;
  const fault = record('Redis refusing writes');
  const alive = topology.processes.filter((p) => p.running);
  const edges = topology.edges.filter((e) => e.running);
  const spools = spoolSampler(edges);
  const dropsBefore = socketsOpened(ctx);
  const client = ctx.clients.find((c) => c.user === victim.user);
  if (client === undefined) throw new Error(`${victim.user} has no client`);
  const channel = channelsOf(ctx, client, victim.product)[0];
  if (channel === undefined) throw new Error(`${victim.user} has no ${victim.product} channel`);
  const restore = await topology.redis.refuseWrites();
  fault.at = Date.now();
  let sentAt = fault.at;
  let ackAt = fault.at;
  try {
    sentAt = Date.now();
    const status = await ctx.admin.revokeOnce(victim.user, victim.product).catch((e: Error) => e.message);
    ackAt = Date.now();
    if (status !== 200)
      fault.failures.push(
        `revoking ${victim.user}/${victim.product} while Redis refused writes answered ${status}`,
      );
    // Past the bound, so the edges have had their chance to apply the change from the database.
    await sleep(Math.max(0, ackAt + ctx.verifyBoundMs - Date.now()));
    const edge = client.current?.edge ?? 0;
    const probe = await probeSubscribe(ctx.edgeUrls[edge] as string, client.spec.token, channel, 5_000);
    fault.notes.push(
      `a new socket of ${victim.user} opened during the refusal subscribed to ${channel}: ${probe.mode ? `${probe.mode} (${probe.reason ?? 'no reason'})` : probe.error}`,
    );
    if (probe.mode === 'realtime')
      fault.failures.push(`a new socket of ${victim.user} got ${channel} in real time after the revocation`);
    await sleep(Math.max(0, fault.at + refuseMs - Date.now()));
  } finally {
    await restore();
  }
  const restoredAt = Date.now();
  judgeRevocation(ctx, fault, victim, sentAt, ackAt);
  const flowing = await dataFlowsAfter(ctx, restoredAt, 30_000);
  const drained = await spoolsDrained(edges, 30_000);
  const maxSpool = await spools.stop();
  if (flowing === undefined)
    fault.failures.push('no real-time data reached any watcher within 30 s of Redis taking writes again');
  if (drained === undefined)
    fault.failures.push('the edges still held usage events 30 s after Redis took writes again');
  if (flowing !== undefined && drained !== undefined)
    fault.recoveryMs = Math.max(flowing, drained) - fault.at;
  const reconnects = socketsOpened(ctx) - dropsBefore;
  fault.notes.push(
    `refused writes for ${restoredAt - fault.at} ms; edge spools held up to ${maxSpool} usage events, then drained; ${reconnects} client sockets dropped`,
  );
  if (reconnects > 0) fault.failures.push(`${reconnects} client sockets dropped while Redis refused writes`);
  const down = crashed(alive);
  if (down.length) fault.failures.push(`processes exited while Redis refused writes: ${down.join(', ')}`);
  return fault;
}

/**
 * SIGKILLs the drill's Redis and starts it again a second later on the same port and files.
 * Edges keep their sockets; usage events wait in the edges' spools until the bus stores them.
 * While it is down, `victim` loses real time for `product`: the change feed cannot carry that
 * revocation, so it shows whether edges learn it before the ticks held up in the outage flow.
 */
export async function restartRedis(ctx: DrillContext, downMs: number, victim: Victim): Promise<FaultRecord> {
  const { topology } = ctx;
  const fault = record('Redis restarted');
  const edges = topology.edges.filter((e) => e.running);
  const spools = spoolSampler(edges);
  const dropsBefore = socketsOpened(ctx);
  let revoking: Promise<void> = Promise.resolve();
  const redis = topology.singleRedis;
  if (redis === undefined) throw new Error('the Redis restart needs the single Redis (--single-redis)');
  const { killedAt, upAt } = await redis.crashAndRestart(downMs, () => {
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
  const drained = await spoolsDrained(edges, 30_000);
  const maxSpool = await spools.stop();
  if (flowing === undefined)
    fault.failures.push('no real-time data reached any watcher within 30 s of Redis returning');
  if (drained === undefined)
    fault.failures.push('the edges still held usage events 30 s after Redis returned');
  if (flowing !== undefined && drained !== undefined)
    fault.recoveryMs = Math.max(flowing, drained) - killedAt;
  const reconnects = socketsOpened(ctx) - dropsBefore;
  fault.notes.push(
    `down ${upAt - killedAt} ms; edge spools held up to ${maxSpool} usage events, then drained; ${reconnects} client sockets dropped`,
  );
  if (reconnects > 0) fault.failures.push(`${reconnects} client sockets dropped while Redis was down`);
  fault.changesHeldBack = {
    from: fault.at,
    to: fault.at + (fault.recoveryMs ?? 30_000),
    why: 'Redis down: the change feed cannot carry it; told when the bus returned',
  };
  fault.afterwards = () => redisVictimNote(ctx, victim, fault);
  return fault;
}

/**
 * What the user revoked during the Redis outage saw: when it was told, and its last real-time
 * event of the product. The leak check judges it; this says it in words.
 */
function redisVictimNote(ctx: DrillContext, victim: Victim, fault: FaultRecord): string {
  const client = ctx.clients.find((c) => c.user === victim.user);
  if (client === undefined) return `${victim.user} has no client`;
  const told = client.modeChanges.find(
    (m) =>
      m.at >= fault.at &&
      m.mode === 'delayed' &&
      ctx.symbolProduct.get(m.channel.slice(2)) === victim.product,
  );
  const product = ctx.productIds.indexOf(victim.product);
  let last = 0;
  for (let i = 0; i < client.log.length; i += LOG_FIELDS) {
    if (client.log[i + F_PRODUCT] === product && client.log[i + F_MODE] === REALTIME)
      last = Math.max(last, client.log[i + F_RECV] as number);
  }
  const since = (at: number) => `${at - fault.at} ms after Redis was killed`;
  return `${victim.user} was ${told ? `told ${victim.product} is delayed ${since(told.at)}` : `never told ${victim.product} is delayed`}; its last real-time ${victim.product} event came ${last >= fault.at ? since(last) : 'before the kill'}`;
}

/**
 * A manual failover of the Redis Cluster master that serves the usage stream (`CLUSTER FAILOVER`
 * on its replica, which catches up first, so no acknowledged write is lost), while `victim`
 * loses real time for its product. The hub's cluster clients follow the MOVED replies to the new
 * master; edges keep their sockets, usage waits in the spools if a write is refused meanwhile, and
 * the revocation must be in force within the switch window as at any other time.
 */
export async function failoverRedisMaster(ctx: DrillContext, victim: Victim): Promise<FaultRecord> {
  const { topology } = ctx;
  const cluster = topology.cluster;
  if (cluster === undefined) throw new Error('the master failover needs the Redis Cluster');
  const fault = record('Redis Cluster master failover');
  const alive = topology.processes.filter((p) => p.running);
  const edges = topology.edges.filter((e) => e.running);
  const spools = spoolSampler(edges);
  const dropsBefore = socketsOpened(ctx);
  fault.at = Date.now();
  const sentAt = Date.now();
  let ackAt = sentAt;
  const revoking = ctx.admin
    .revokeOnce(victim.user, victim.product)
    .catch((e: Error) => e.message)
    .finally(() => {
      ackAt = Date.now();
    });
  const failover = await cluster.failoverMasterOf(`${topology.prefix}:work:{usage}`);
  const status = await revoking;
  if (status !== 200)
    fault.failures.push(`revoking ${victim.user}/${victim.product} during the failover answered ${status}`);
  fault.notes.push(
    `the master on port ${failover.from} (the usage stream's) handed its slots to its replica on port ${failover.to} in ${failover.doneAt - failover.startedAt} ms`,
  );
  const flowing = await dataFlowsAfter(ctx, failover.doneAt, 30_000);
  const drained = await spoolsDrained(edges, 30_000);
  const maxSpool = await spools.stop();
  if (flowing === undefined)
    fault.failures.push('no real-time data reached any watcher within 30 s of the failover');
  if (drained === undefined) fault.failures.push('the edges still held usage events 30 s after the failover');
  if (flowing !== undefined && drained !== undefined)
    fault.recoveryMs = Math.max(flowing, drained) - fault.at;
  await sleep(Math.max(0, ackAt + ctx.switchWindowMs - Date.now()));
  judgeRevocation(ctx, fault, victim, sentAt, ackAt);
  const reconnects = socketsOpened(ctx) - dropsBefore;
  fault.notes.push(
    `edge spools held up to ${maxSpool} usage events, then drained; ${reconnects} client sockets dropped`,
  );
  if (reconnects > 0) fault.failures.push(`${reconnects} client sockets dropped during the failover`);
  const down = crashed(alive);
  if (down.length) fault.failures.push(`processes exited during the failover: ${down.join(', ')}`);
  return fault;
}
