/**
 * The fault schedule: which fault strikes when, as a table read top to bottom. A baseline phase of
 * data flowing comes first, and each fault gets a phase (`phaseMs`) before the next. Grants and
 * revocations for the flippers run through the whole schedule, one every `flipEveryMs`, so changes
 * also land while Redis is down or an edge dies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AdminClient } from './admin.js';
import {
  type DrillContext,
  type FaultRecord,
  hostile,
  killEdge,
  killIngestLeader,
  killMeterMidBatch,
  lockEntitlementTables,
  restartPostgres,
  terminateEdgeAndMeter,
} from './faults.js';
import type { Population } from './population.js';
import { failoverRedisMaster, refuseRedisWrites, restartRedis } from './redis-faults.js';

/** What a scheduled fault is given besides the drill's context. */
export interface ScheduleContext extends DrillContext {
  phaseMs: number;
  population: Population;
}

interface ScheduledFault {
  /** The progress line as it strikes. */
  says: string;
  strike(ctx: ScheduleContext): Promise<FaultRecord>;
}

const KILLED_EDGE = 0;

/**
 * In order. Meter 0 stays dead after the mid-batch kill, so the SIGTERM takes meter 1, the one
 * running. The SIGTERMed edge is the other one than the one killed later, so the kill still cuts
 * the sessions that moved off it; the hostile traffic goes to the edge that survives. Each
 * revocation under a fault takes a different fully licensed user (and product). On the Redis
 * Cluster the third fault is a master failover; on the single Redis, a restart.
 */
export function scheduleFor(ctx: ScheduleContext): readonly ScheduledFault[] {
  return [
    { says: 'a meter killed mid-batch', strike: (ctx) => killMeterMidBatch(ctx, 5) },
    { says: 'the ingest leader killed', strike: (ctx) => killIngestLeader(ctx) },
    ctx.topology.cluster
      ? {
          says: 'a Redis Cluster master failed over',
          strike: (c) => failoverRedisMaster(c, c.population.victims[0]),
        }
      : { says: 'Redis restarted', strike: (c) => restartRedis(c, 1_000, c.population.victims[0]) },
    {
      says: 'Redis refusing writes during a revocation',
      strike: (ctx) => refuseRedisWrites(ctx, Math.max(3_000, ctx.phaseMs / 2), ctx.population.victims[1]),
    },
    {
      says: 'entitlement tables locked while a revocation lands',
      strike: (ctx) =>
        lockEntitlementTables(ctx, Math.max(3_000, ctx.phaseMs * 1.5), ctx.population.victims[2]),
    },
    { says: 'PostgreSQL restarted', strike: (ctx) => restartPostgres(ctx, Math.max(2_000, ctx.phaseMs / 2)) },
    {
      says: 'an edge and a meter SIGTERMed',
      strike: (ctx) => terminateEdgeAndMeter(ctx, 1 - KILLED_EDGE, 1),
    },
    { says: 'an edge killed', strike: (ctx) => killEdge(ctx, KILLED_EDGE) },
    {
      says: 'malformed vendor frames and hostile clients',
      strike: (ctx) => hostile(ctx, 1 - KILLED_EDGE, ctx.population.hostileToken),
    },
  ];
}

/** What the schedule did: every fault's record (the baseline first) and the live changes. */
export interface ScheduleRun {
  faults: FaultRecord[];
  flips: Flip[];
  /** Live changes the admin API refused or failed. */
  flipErrors: string[];
}

/**
 * Runs `schedule` with the flippers' changes throughout, then waits for the work faults leave
 * behind (a killed meter's events being claimed).
 */
export async function runSchedule(
  ctx: ScheduleContext,
  schedule: readonly ScheduledFault[],
  flipEveryMs: number,
  log: (line: string) => void,
): Promise<ScheduleRun> {
  const flipping = flipEntitlements(ctx.admin, ctx.population.flippers, flipEveryMs);
  const faults: FaultRecord[] = [
    { name: 'baseline (no fault)', at: Date.now(), end: 0, recoveryMs: undefined, notes: [], failures: [] },
  ];
  const phase = async () => {
    await sleep(ctx.phaseMs);
    (faults[faults.length - 1] as FaultRecord).end = Date.now();
  };
  await phase();
  for (const fault of schedule) {
    log(`fault: ${fault.says}`);
    faults.push(await fault.strike(ctx));
    await phase();
  }
  await flipping.stop();
  log('waiting for the killed meter’s events to be claimed');
  for (const fault of faults) await fault.settled;
  return { faults, flips: flipping.flips, flipErrors: flipping.errors };
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
function flipEntitlements(
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
