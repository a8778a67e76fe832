/**
 * The drill from start to verdict: the scaled topology as real processes, the vendor and the
 * client population, the fault schedule while data flows and entitlements change, then every check
 * against the client logs. `npm run drill` runs it at full size; the test suite runs the same code
 * small.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadCatalog } from '../config/index.js';
import { type PrivatePostgres, startPrivatePostgres } from '../testing/index.js';
import { AdminClient } from './admin.js';
import { judge } from './checks.js';
import type { DrillClient, Products } from './clients.js';
import { gatherEvidence, SESSION_SWEEP_MS } from './evidence.js';
import type { DrillContext } from './faults.js';
import { populate } from './population.js';
import type { DrillResult } from './result.js';
import { runSchedule, scheduleFor } from './schedule.js';
import { LoopStalls } from './stalls.js';
import { Topology } from './topology.js';
import { DrillVendor } from './vendor.js';

export interface DrillOptions {
  /** Honest clients, besides the two watchers (one user each). */
  clients: number;
  symbolsPerTape: number;
  eventsPerSecond: number;
  /** `MDHUB_DELAY_MS` for every product. */
  delayMs: number;
  /** `MDHUB_USAGE_FLUSH_MS`. */
  flushMs: number;
  /** Data flowing before the first fault and after each one. */
  phaseMs: number;
  /** One live grant or revocation this often. */
  flipEveryMs: number;
  /**
   * A PostgreSQL server to work in (a schema of the drill's own, created and dropped); the
   * PostgreSQL restart is then skipped, as the drill never restarts a server it did not start.
   * Default: a server of the drill's own (testing/private-postgres.ts), restarted by that fault.
   */
  postgresUrl?: string;
  /** Progress lines. */
  log: (line: string) => void;
  /**
   * How long after a grant ends real time may still arrive before it counts as a leak (DESIGN
   * rule 5: 1 000 ms). Nothing excuses real time before a grant, whatever this is.
   */
  switchWindowMs: number;
  /**
   * `MDHUB_ENTITLEMENT_VERIFY_MS` for the hub: a change the feed did not carry is in force, or the
   * user unverified, within twice this. 500 makes that bound the leak rule's 1 000 ms.
   */
  verifyMs: number;
  /** A Redis Cluster of the drill's own (3 masters, a replica each), or one Redis server. */
  redis: 'cluster' | 'single';
  /**
   * The single Redis: `aof` keeps its data across the restart (how to deploy it); `none` loses
   * it. The cluster's fault is a failover, which needs no persistence.
   */
  redisPersistence: 'aof' | 'none';
  /** Keep the processes' logs (and print their tails) when a check fails; always removed otherwise. */
  keepLogsOnFailure: boolean;
}

export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const { log } = options;
  const startedAt = Date.now();
  const stalls = new LoopStalls().start();
  const dir = mkdtempSync(join(tmpdir(), 'mdhub-drill-'));
  const catalog = loadCatalog(undefined, options.delayMs);
  const productIds = [...catalog.products.keys()];
  const byTape: number[] = [];
  for (let z = 0; z < 8; z++) {
    const product = catalog.productForTape(z);
    byTape.push(product ? productIds.indexOf(product.id) : -1);
  }
  const products: Products = { byTape, ids: productIds };
  const vendorKey = 'drill-vendor-key';
  const vendor = await DrillVendor.start(vendorKey, options.symbolsPerTape, options.eventsPerSecond);
  let topology: Topology | undefined;
  let postgres: PrivatePostgres | undefined;
  let keep = false;
  let clients: DrillClient[] = [];
  try {
    if (options.postgresUrl === undefined) {
      log('starting a PostgreSQL of the drill’s own');
      postgres = await startPrivatePostgres();
    }
    log(`starting the topology (logs in ${dir})`);
    topology = await Topology.start({
      dir,
      redis: options.redis,
      redisPersistence: options.redisPersistence,
      postgresUrl: options.postgresUrl ?? (postgres as PrivatePostgres).url,
      env: {
        POLYGON_API_KEY: vendorKey,
        POLYGON_WS_URL: vendor.url,
        MDHUB_DELAY_MS: String(options.delayMs),
        MDHUB_USAGE_FLUSH_MS: String(options.flushMs),
        MDHUB_SESSION_SWEEP_MS: String(SESSION_SWEEP_MS),
        MDHUB_ENTITLEMENT_VERIFY_MS: String(options.verifyMs),
      },
    });
    await vendor.start();
    const api = topology.api as NonNullable<Topology['api']>;
    const admin = new AdminClient(api.url, topology.adminToken);
    const population = await populate(topology, admin, vendor, products, options);
    clients = population.clients;
    const ctx: DrillContext = {
      topology,
      vendor,
      clients,
      watchers: population.watchers,
      admin,
      edgeUrls: population.edgeUrls,
      productIds,
      symbolProduct: new Map(vendor.symbols.map((s) => [s.sym, productIds[byTape[s.tape] ?? -1] ?? '?'])),
      switchWindowMs: options.switchWindowMs,
      verifyBoundMs: 2 * options.verifyMs,
      postgres,
      stalls,
    };
    const scheduled = { ...ctx, phaseMs: options.phaseMs, population };
    const run = await runSchedule(scheduled, scheduleFor(scheduled), options.flipEveryMs, log);

    log('settling: clients unsubscribe, then close; the ledger catches up');
    for (const client of clients) client.unsubscribe();
    await sleep(500);
    await Promise.all(clients.map((c) => c.close()));
    // Receipt times end here: what the drill's loop does while it gathers evidence delays no frame.
    stalls.stop();
    await vendor.stop();
    const evidence = await gatherEvidence(ctx, run, { ...options, catalog, startedAt });
    const verdict = judge(evidence);

    const finishedAt = Date.now();
    const result: DrillResult = {
      ok: verdict.failures.length === 0,
      startedAt: new Date(startedAt).toISOString(),
      durationS: Math.round((finishedAt - startedAt) / 1000),
      parameters: {
        redis: options.redis === 'cluster' ? 'Redis Cluster, 3 masters with a replica each' : 'one Redis',
        clients: clients.length,
        symbols: vendor.symbols.length,
        eventsPerSecond: options.eventsPerSecond,
        delayMs: options.delayMs,
        usageFlushMs: options.flushMs,
        phaseMs: options.phaseMs,
        liveEntitlementChanges: run.flips.length,
      },
      faults: verdict.faults,
      totals: verdict.totals,
      notes: evidence.notes,
      probes: run.faults.flatMap((f) => f.probes ?? []),
      failures: verdict.failures,
    };
    if (!result.ok && options.keepLogsOnFailure) {
      keep = true;
      result.logsDir = dir;
      for (const p of topology.processes) log(`--- ${p.name} (${p.logFile}) ---\n${p.tail(15)}`);
    }
    return result;
  } catch (error) {
    // The drill itself broke (a process never started, a fault could not be injected): the
    // processes' own words are the evidence, whoever runs it.
    for (const p of topology?.processes ?? []) process.stderr.write(`--- ${p.name} ---\n${p.tail(20)}\n`);
    keep = options.keepLogsOnFailure;
    throw error;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await vendor.close();
    stalls.stop();
    await topology?.stop();
    await postgres?.destroy();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}
