/**
 * The drill from start to verdict: the scaled topology as real processes, the vendor and the
 * client population, the faults one after another while data flows and entitlements change, then
 * every check against the client logs. `npm run drill` runs it at full size; the test suite runs
 * the same code small.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { loadCatalog } from '../config/index.js';
import { runCli } from '../testing/index.js';
import { EDGE_LOST } from '../usage/index.js';
import { AdminClient, type Category } from './admin.js';
import {
  type ClientSpec,
  DrillClient,
  F_MODE,
  F_PRODUCT,
  F_RECV,
  LOG_FIELDS,
  type Products,
  REALTIME,
} from './clients.js';
import {
  type DrillContext,
  type FaultRecord,
  type Flip,
  flipEntitlements,
  hostile,
  killEdge,
  killIngestLeader,
  killMeterMidBatch,
  lockEntitlementTables,
  refuseRedisWrites,
  restartRedis,
  terminateEdgeAndMeter,
  until,
} from './faults.js';
import {
  BOUNDED_LOSS_TOLERANCE_MS,
  clientTruth,
  compareLedger,
  compareReport,
  EntitlementHistory,
  type Violation,
} from './ground-truth.js';
import type { DrillResult, FaultRow } from './result.js';
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
  /** PostgreSQL server; the drill creates and drops a schema of its own. */
  postgresUrl: string;
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
  /** `aof`: Redis keeps its data across the restart (how to deploy it); `none`: it loses it. */
  redisPersistence: 'aof' | 'none';
  /** Keep the processes' logs (and print their tails) when a check fails; always removed otherwise. */
  keepLogsOnFailure: boolean;
}

const KILLED_EDGE = 0;
/**
 * The edge and meter SIGTERMed and started again. The edge is the other one than the one killed
 * later, so the kill still cuts the sessions that moved off it.
 */
const TERMINATED_EDGE = 1;
const TERMINATED_METER = 1;

/**
 * `MDHUB_SESSION_SWEEP_MS` for the meters: short, so the killed edge's sessions are closed soon
 * after their slots lapse (the slot ttl, 30 s, is the edges' and is not shortened).
 */
const SESSION_SWEEP_MS = 1_000;
/** The edges' session slot ttl (`EdgeOptions.sessionTtlMs` default): when a dead edge's slots lapse. */
const SLOT_TTL_MS = 30_000;

interface Profile {
  name: string;
  /** Products with both the agreement and a grant. */
  licensed: string[];
  /** Products with a grant but no agreement (delayed: agreement_missing). */
  grantOnly: string[];
  /** Whether one product's grant is switched on and off live. */
  flips: boolean;
}

function profileOf(i: number, productIds: readonly string[]): Profile {
  const [a = 'CTA_A', b = 'CTA_B', c = 'UTP'] = productIds;
  switch (i % 10) {
    case 0:
    case 1:
    case 2:
      return { name: 'licensed all', licensed: [a, b, c], grantOnly: [], flips: false };
    case 3:
    case 4:
      return { name: 'licensed one', licensed: [i % 4 === 0 ? a : c], grantOnly: [], flips: false };
    case 5:
      return { name: 'grant without agreement', licensed: [], grantOnly: [b], flips: false };
    case 6:
      return { name: 'flipper', licensed: [], grantOnly: [], flips: true };
    default:
      return { name: 'unlicensed', licensed: [], grantOnly: [], flips: false };
  }
}

async function inParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const { log } = options;
  const startedAt = Date.now();
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
  let keep = false;
  const clients: DrillClient[] = [];
  try {
    log(`starting the topology (logs in ${dir})`);
    topology = await Topology.start({
      dir,
      redisPersistence: options.redisPersistence,
      postgresUrl: options.postgresUrl,
      env: {
        POLYGON_API_KEY: vendorKey,
        POLYGON_WS_URL: vendor.server.url,
        MDHUB_DELAY_MS: String(options.delayMs),
        MDHUB_USAGE_FLUSH_MS: String(options.flushMs),
        MDHUB_SESSION_SWEEP_MS: String(SESSION_SWEEP_MS),
        MDHUB_ENTITLEMENT_VERIFY_MS: String(options.verifyMs),
      },
    });
    vendor.start();
    const api = topology.api as NonNullable<Topology['api']>;
    const admin = new AdminClient(api.url, topology.adminToken);
    const edgeUrls = topology.edges.map((e) => `ws://127.0.0.1:${e.port}/stocks`);
    const symbolProduct = new Map(
      vendor.symbols.map((s) => [s.sym, productIds[byTape[s.tape] ?? -1] ?? '?']),
    );

    log(`creating ${options.clients + 3} users through the admin API`);
    const specs: Array<ClientSpec & { profile: Profile }> = [];
    const flippers: Array<{ user: string; product: string }> = [];
    const users = Array.from({ length: options.clients + 2 }, (_, i) => i);
    await inParallel(users, 6, async (i) => {
      const watcher = i >= options.clients;
      const user = watcher ? `drill-watcher-${i - options.clients}` : `drill-u${String(i).padStart(4, '0')}`;
      const profile = watcher
        ? { name: 'watcher', licensed: productIds, grantOnly: [], flips: false }
        : profileOf(i, productIds);
      const category: Category = !watcher && i % 2 === 1 ? 'non_professional' : 'professional';
      await admin.createUser(user, category);
      for (const product of profile.licensed) {
        await admin.acceptAgreement(user, product);
        await admin.grant(user, product);
      }
      for (const product of profile.grantOnly) await admin.grant(user, product);
      const flipProduct = productIds[i % productIds.length] as string;
      if (profile.flips) {
        await admin.acceptAgreement(user, flipProduct);
        flippers.push({ user, product: flipProduct });
      }
      const token = await admin.issueToken(user);
      const pick = (tape: number) =>
        vendor.symbols.filter((s) => s.tape === tape)[i % options.symbolsPerTape]?.sym;
      const channels = watcher
        ? ['Q.*', 'T.*']
        : [1, 2, 3].flatMap((tape) => [`Q.${pick(tape)}`, `T.${pick(tape)}`]);
      specs.push({ user, token, channels, profile });
    });
    await admin.createUser('drill-hostile', 'professional');
    const hostileToken = await admin.issueToken('drill-hostile');

    // The edges learn users and tokens through the change feed; probe the newest on each edge.
    for (const edge of topology.edges) {
      const known = await until(
        async () => {
          const res = await fetch(`${edge.url}/v1/last/quote/NOPE?apiKey=${hostileToken}`);
          return res.status !== 401;
        },
        15_000,
        250,
      );
      if (known === undefined) throw new Error(`${edge.name} never learned the drill's tokens`);
    }
    await until(() => vendor.server.subscribed > 0, 15_000);

    log(`connecting ${specs.length} clients across ${edgeUrls.length} edges`);
    specs.sort((a, b) => a.user.localeCompare(b.user));
    specs.forEach((spec, i) => {
      clients.push(new DrillClient(spec, edgeUrls, i, products));
    });
    for (const client of clients) client.connect();
    const watchers = clients.filter((c) => c.user.startsWith('drill-watcher-'));
    if ((await until(() => clients.every((c) => c.ready), 30_000, 50)) === undefined)
      throw new Error(`${clients.filter((c) => !c.ready).length} clients never got subscribed`);

    const ctx: DrillContext = {
      topology,
      vendor,
      clients,
      watchers,
      admin,
      edgeUrls,
      productIds,
      symbolProduct,
      switchWindowMs: options.switchWindowMs,
      verifyBoundMs: 2 * options.verifyMs,
    };
    const flipping = flipEntitlements(admin, flippers, options.flipEveryMs);
    const faults: FaultRecord[] = [];
    const baseline: FaultRecord = {
      name: 'baseline (no fault)',
      at: Date.now(),
      end: 0,
      recoveryMs: undefined,
      notes: [],
      failures: [],
    };
    faults.push(baseline);
    const phase = async () => {
      await sleep(options.phaseMs);
      (faults[faults.length - 1] as FaultRecord).end = Date.now();
    };
    await phase();
    log('fault: a meter killed mid-batch');
    faults.push(await killMeterMidBatch(ctx, 5));
    await phase();
    log('fault: the ingest leader killed');
    faults.push(await killIngestLeader(ctx));
    await phase();
    log('fault: Redis restarted');
    // One fully licensed user per fault, each losing a different product.
    const victims = specs
      .filter((s) => s.profile.name === 'licensed all')
      .slice(0, 3)
      .map((s, i) => ({ user: s.user, product: productIds[i % productIds.length] as string }));
    const [victim, refusalVictim, lockVictim] = victims;
    if (victim === undefined || refusalVictim === undefined || lockVictim === undefined)
      throw new Error('the population has fewer than 3 fully licensed clients');
    const redisFault = await restartRedis(ctx, 1_000, victim);
    faults.push(redisFault);
    await phase();
    log('fault: Redis refusing writes during a revocation');
    faults.push(await refuseRedisWrites(ctx, Math.max(3_000, options.phaseMs / 2), refusalVictim));
    await phase();
    log('fault: entitlement tables locked while a revocation lands');
    faults.push(await lockEntitlementTables(ctx, Math.max(3_000, options.phaseMs * 1.5), lockVictim));
    await phase();
    log('fault: an edge and a meter SIGTERMed');
    const terminated = await terminateEdgeAndMeter(ctx, TERMINATED_EDGE, TERMINATED_METER);
    faults.push(terminated);
    await phase();
    log('fault: an edge killed');
    faults.push(await killEdge(ctx, KILLED_EDGE));
    await phase();
    log('fault: malformed vendor frames and hostile clients');
    faults.push(await hostile(ctx, 1 - KILLED_EDGE, hostileToken));
    await phase();

    await flipping.stop();
    log('waiting for the killed meter’s events to be claimed');
    for (const fault of faults) await fault.settled;

    log('settling: clients unsubscribe, then close; the ledger catches up');
    for (const client of clients) client.unsubscribe();
    await sleep(500);
    await Promise.all(clients.map((c) => c.close()));
    vendor.stop();
    const settled = await settleLedger(topology);

    log('checking against the client logs');
    const killedAt = faults.find((f) => f.name === 'edge killed')?.at;
    const licensorOf = new Map([...catalog.products.values()].map((p) => [p.id, p.licensor]));
    const history = await EntitlementHistory.load(topology.db, licensorOf);
    const truth = clientTruth(clients, history, {
      delayMs: options.delayMs,
      switchWindowMs: options.switchWindowMs,
      productIds,
      killedEdge:
        killedAt === undefined ? undefined : { index: KILLED_EDGE, at: killedAt, flushMs: options.flushMs },
      terminatedEdge: terminated.terminatedEdge && { ...terminated.terminatedEdge, flushMs: options.flushMs },
    });
    const userSet = new Set([...clients.map((c) => c.user), 'drill-hostile']);
    const ledger = await compareLedger(topology.db, truth, userSet);
    const month = new Date(startedAt).toISOString().slice(0, 7);
    const report = (await admin.get(
      `/admin/reports/usage?month=${month}&format=json&detail=1`,
    )) as Parameters<typeof compareReport>[0];
    const monthStart = Date.parse(`${month}-01T00:00:00Z`);
    const monthEnd = Date.UTC(new Date(monthStart).getUTCFullYear(), new Date(monthStart).getUTCMonth() + 1);
    const reportCheck = compareReport(report, truth, admin, history, userSet, productIds, {
      start: monthStart,
      end: monthEnd,
    });
    log('waiting for the meters to sweep the killed edge’s sessions');
    const sessions = await sweptSessions(
      topology,
      `drill-${topology.edges[KILLED_EDGE]?.name}`,
      killedAt,
      terminated.terminatedEdge && {
        edgeId: `drill-${topology.edges[TERMINATED_EDGE]?.name}`,
        exitedAt: terminated.terminatedEdge.exitedAt,
      },
    );
    const audit = await runCli(['audit', 'verify'], topology.env() as Record<string, string>, 60_000);
    redisFault.notes.push(victimNote(clients, victim, redisFault, productIds, symbolProduct));
    const heldBack = [
      {
        from: redisFault.at,
        to: redisFault.at + (redisFault.recoveryMs ?? 30_000),
        why: 'Redis down: the change feed cannot carry it; told when the bus returned',
      },
      ...faults.flatMap((f) => (f.changesHeldBack ? [f.changesHeldBack] : [])),
    ];
    const switches = switchLatencies(
      flipping.flips,
      clients,
      symbolProduct,
      heldBack,
      options.switchWindowMs,
    );

    const rows = faults.map((f) => faultRow(f, vendor, truth));
    const terminatedRow = rows.find((r) => r.fault === terminated.name);
    if (terminatedRow) {
      terminatedRow.usageLost = ledger.lostAtTermination;
      terminatedRow.boundedLoss = 0;
      terminatedRow.ok &&= ledger.lostAtTermination === 0 && sessions.terminated.length === 0;
    }
    const killedEdgeRow = rows.find((r) => r.fault === 'edge killed');
    if (killedEdgeRow) {
      killedEdgeRow.usageLost = ledger.lostOnKilledEdge;
      killedEdgeRow.boundedLoss = ledger.boundedLoss;
      killedEdgeRow.ok &&=
        ledger.lostOnKilledEdge === 0 && sessions.openOnKilledEdge === 0 && sessions.closedLate.length === 0;
    }
    const failures: string[] = [];
    for (const f of faults) for (const failure of f.failures) failures.push(`${f.name}: ${failure}`);
    for (const e of flipping.errors) failures.push(`live entitlement change failed: ${e}`);
    if (!settled)
      failures.push(
        'the ledger did not catch up: usage events still in the stream 60 s after the clients closed',
      );
    if (truth.leaks.length)
      failures.push(
        `${truth.leaks.length} real-time events reached users not entitled at that instant, e.g. ${describe(truth.leaks)}`,
      );
    if (truth.earlyDelayed.length)
      failures.push(
        `${truth.earlyDelayed.length} delayed events arrived before t + delay, e.g. ${describe(truth.earlyDelayed)}`,
      );
    if (truth.unknownModeEvents)
      failures.push(`${truth.unknownModeEvents} events arrived on a channel the client had no mode for`);
    if (ledger.doubleCounted)
      failures.push(
        `the ledger counts ${ledger.doubleCounted} deliveries more than clients received: ${ledger.samples.join('; ')}`,
      );
    if (ledger.lostElsewhere)
      failures.push(
        `${ledger.lostElsewhere} real-time deliveries received by clients never reached the ledger (not explained by the edge kill): ${ledger.samples.join('; ')}`,
      );
    if (ledger.lostAtTermination)
      failures.push(
        `${ledger.lostAtTermination} real-time deliveries by the SIGTERMed edge in its last ${options.flushMs} ms before it stopped were never metered: a clean stop must flush them: ${ledger.samples.join('; ')}`,
      );
    if (sessions.terminated.length)
      failures.push(
        `sessions of the SIGTERMed edge not closed by its stop: ${sessions.terminated.slice(0, 5).join('; ')}`,
      );
    if (ledger.lostOnKilledEdge)
      failures.push(
        `${ledger.lostOnKilledEdge} real-time deliveries by the killed edge were never metered beyond the bounded loss (its last ${options.flushMs} ms of counts, ± ${BOUNDED_LOSS_TOLERANCE_MS} ms): ${ledger.samples.join('; ')}`,
      );
    if (ledger.missingFirstAccess.length)
      failures.push(
        `first real-time access missing from the ledger: ${ledger.missingFirstAccess.slice(0, 5).join('; ')}`,
      );
    if (ledger.phantomFirstAccess.length)
      failures.push(
        `ledger shows real-time access clients never had: ${ledger.phantomFirstAccess.slice(0, 5).join('; ')}`,
      );
    if (ledger.lateFirstAccess.length)
      failures.push(
        `ledger first access later than the first receipt: ${ledger.lateFirstAccess.slice(0, 5).join('; ')}`,
      );
    if (!reportCheck.rowsMatch)
      failures.push(
        `usage report rows ${JSON.stringify(reportCheck.reportedRows)} differ from ground truth ${JSON.stringify(reportCheck.expectedRows)}`,
      );
    if (reportCheck.detailMismatches.length)
      failures.push(`usage report details differ: ${reportCheck.detailMismatches.slice(0, 5).join('; ')}`);
    if (sessions.openOnKilledEdge)
      failures.push(
        `${sessions.openOnKilledEdge} sessions of the killed edge are still open in the ledger (usage_sessions.closed_at null) ${Math.round(sessions.waitedMs / 1000)} s after the kill: the meters' sweeper did not close them`,
      );
    if (sessions.closedLate.length)
      failures.push(
        `sessions of the killed edge closed after it died or not as edge_lost: ${sessions.closedLate.slice(0, 5).join('; ')}`,
      );
    if (sessions.sweptElsewhere)
      failures.push(
        `${sessions.sweptElsewhere} sessions of surviving edges ended as edge_lost: the sweeper closed live sessions and no session_close replaced it`,
      );
    if (sessions.openElsewhere)
      failures.push(
        `${sessions.openElsewhere} sessions of surviving edges are still open in the ledger after every client closed`,
      );
    if (audit.code !== 0) failures.push(`mdhub audit verify failed: ${audit.stderr.trim()}`);
    if (vendor.server.maxSimultaneous > 1)
      failures.push(`the vendor saw ${vendor.server.maxSimultaneous} simultaneous connections`);
    if (switches.late.length)
      failures.push(
        `entitlement changes told to clients after more than ${options.switchWindowMs} ms: ${switches.late.slice(0, 5).join('; ')}`,
      );

    const finishedAt = Date.now();
    const result: DrillResult = {
      ok: failures.length === 0,
      startedAt: new Date(startedAt).toISOString(),
      durationS: Math.round((finishedAt - startedAt) / 1000),
      parameters: {
        clients: clients.length,
        symbols: vendor.symbols.length,
        eventsPerSecond: options.eventsPerSecond,
        delayMs: options.delayMs,
        usageFlushMs: options.flushMs,
        phaseMs: options.phaseMs,
        liveEntitlementChanges: flipping.flips.length,
      },
      faults: rows,
      totals: {
        vendorEvents: vendor.sent,
        clientEvents: truth.events,
        realtimeEvents: truth.realtimeEvents,
        delayedEvents: truth.delayedEvents,
        ledgerDeliveries: ledger.ledgerDeliveries,
        clientRealtimeDeliveries: ledger.clientDeliveries,
        usageLost:
          ledger.lostElsewhere +
          ledger.lostOnKilledEdge +
          ledger.lostAtTermination +
          ledger.missingFirstAccess.length,
        usageBoundedLoss: ledger.boundedLoss,
        usageDoubleCounted: ledger.doubleCounted + ledger.phantomFirstAccess.length,
        entitlementLeaks: truth.leaks.length,
        earlyDelayed: truth.earlyDelayed.length,
        maxSimultaneousVendorConnections: vendor.server.maxSimultaneous,
        switchLatencyP50Ms: switches.p50,
        switchLatencyMaxMs: switches.max,
        killedEdgeSessionsOpenInLedger: sessions.openOnKilledEdge,
        killedEdgeSessionsSwept: sessions.sweptOnKilledEdge,
        reportMatches: reportCheck.rowsMatch && reportCheck.detailMismatches.length === 0,
        auditVerified: audit.code === 0,
      },
      notes: [
        ...faults.map(
          (f) =>
            `${f.name}: at ${new Date(f.at).toISOString()}, window until ${new Date(f.end).toISOString()}`,
        ),
        ...faults.flatMap((f) => f.notes.map((n) => `${f.name}: ${n}`)),
        `edge killed: the meters' sweeper closed ${sessions.sweptOnKilledEdge} of its sessions as edge_lost; checked ${Math.round(sessions.waitedMs / 1000)} s after the kill`,
        honestErrors(clients),
        ...switches.heldBack,
      ],
      probes: faults.flatMap((f) => f.probes ?? []),
      failures,
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
    await topology?.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

function describe(violations: readonly Violation[]): string {
  return violations
    .slice(0, 3)
    .map((v) => `${v.user}/${v.product} at ${new Date(v.at).toISOString()}: ${v.detail}`)
    .join('; ');
}

/** Waits until every usage event is in the ledger: the edges' spools empty and the stream drained. */
async function settleLedger(topology: Topology): Promise<boolean> {
  const redis = createClient({ url: topology.redis.url });
  redis.on('error', () => undefined);
  await redis.connect();
  const key = `${topology.prefix}:work:{usage}`;
  try {
    let quiet = 0;
    const done = await until(
      async () => {
        let spooled = 0;
        for (const edge of topology.edges)
          if (edge.running) spooled += (await edge.metric('mdhub_edge_usage_spool_events')) ?? 0;
        // The meter deletes what it acknowledges, so an empty stream means everything is counted.
        const waiting = spooled + (await redis.xLen(key));
        quiet = waiting === 0 ? quiet + 1 : 0;
        return quiet >= 3;
      },
      60_000,
      500,
    );
    return done !== undefined;
  } finally {
    await redis.quit();
  }
}

interface SessionCheck {
  openOnKilledEdge: number;
  openElsewhere: number;
  /** The killed edge's sessions the sweeper closed (reason `edge_lost`). */
  sweptOnKilledEdge: number;
  /** The killed edge's sessions closed after the kill, or for another reason than a client's or the sweep's. */
  closedLate: string[];
  /** Surviving edges' sessions whose last word is the sweeper's `edge_lost`. */
  sweptElsewhere: number;
  /** From the kill to the check. */
  waitedMs: number;
  /** The SIGTERMed edge's sessions from before its stop that it did not close itself by its exit. */
  terminated: string[];
}

/**
 * The session log once the meters have swept: waits until the killed edge's sessions are closed,
 * for at most the slot ttl (their slots lapsing) plus a few sweeps after the kill, then checks them.
 * A session the killed edge closed itself before dying keeps its own reason; every other one must
 * be closed as `edge_lost` no later than the kill (the last instant the ledger saw it alive).
 */
async function sweptSessions(
  topology: Topology,
  killedEdgeId: string,
  killedAt: number | undefined,
  terminated: { edgeId: string; exitedAt: number } | undefined,
): Promise<SessionCheck> {
  const read = () =>
    topology.db.query<{
      edge_id: string;
      session_id: string;
      opened_at: string;
      closed_at: string | null;
      close_reason: string | null;
    }>('select edge_id, session_id, opened_at, closed_at, close_reason from usage_sessions');
  const killedOpen = async () =>
    (await read()).rows.some((r) => r.edge_id === killedEdgeId && r.closed_at === null);
  const deadline = (killedAt ?? Date.now()) + SLOT_TTL_MS + 5 * SESSION_SWEEP_MS + 5_000;
  await until(async () => !(await killedOpen()), Math.max(0, deadline - Date.now()), 500);
  const { rows } = await read();
  const out: SessionCheck = {
    openOnKilledEdge: 0,
    openElsewhere: 0,
    sweptOnKilledEdge: 0,
    closedLate: [],
    sweptElsewhere: 0,
    waitedMs: Date.now() - (killedAt ?? Date.now()),
    terminated: [],
  };
  for (const row of rows) {
    const onKilled = row.edge_id === killedEdgeId;
    // A clean stop closes every session it held, itself, by the time the process is gone.
    if (terminated && row.edge_id === terminated.edgeId && Number(row.opened_at) <= terminated.exitedAt) {
      const closedAt = row.closed_at === null ? Number.POSITIVE_INFINITY : Number(row.closed_at);
      if (row.close_reason === EDGE_LOST || closedAt > terminated.exitedAt + BOUNDED_LOSS_TOLERANCE_MS)
        out.terminated.push(
          `${row.session_id}: closed at ${row.closed_at} (${row.close_reason}), the edge exited at ${terminated.exitedAt}`,
        );
    }
    if (row.closed_at === null) {
      if (onKilled) out.openOnKilledEdge++;
      else out.openElsewhere++;
      continue;
    }
    const swept = row.close_reason === EDGE_LOST;
    if (!onKilled) {
      if (swept) out.sweptElsewhere++;
      continue;
    }
    if (swept) out.sweptOnKilledEdge++;
    if (killedAt !== undefined && Number(row.closed_at) > killedAt + BOUNDED_LOSS_TOLERANCE_MS)
      out.closedLate.push(
        `${row.session_id}: closed at ${row.closed_at} (${row.close_reason}), killed at ${killedAt}`,
      );
  }
  return out;
}

/**
 * For each live change, how long from the admin API's answer (the change committed by then) until
 * the affected client was told its new mode (a `mode` status for a channel of that product).
 * Changes made while the client was between connections are left out: it learns its mode when it
 * subscribes again. Changes around the Redis outage and the table lock are listed apart: the feed
 * cannot carry the first, no edge can apply the second (the user is unverified until it can).
 */
function switchLatencies(
  flips: readonly Flip[],
  clients: readonly DrillClient[],
  symbolProduct: ReadonlyMap<string, string>,
  heldBackSpans: ReadonlyArray<{ from: number; to: number; why: string }>,
  windowMs: number,
): { p50: number | undefined; max: number | undefined; late: string[]; heldBack: string[] } {
  const byUser = new Map(clients.map((c) => [c.user, c]));
  const latencies: number[] = [];
  const late: string[] = [];
  const heldBack: string[] = [];
  for (const flip of flips) {
    const client = byUser.get(flip.user);
    if (client === undefined) continue;
    const session = client.sessions.findLast(
      (s) => (s.subscribedAt ?? Number.POSITIVE_INFINITY) <= flip.sentAt,
    );
    if (session === undefined || (session.closedAt ?? Number.POSITIVE_INFINITY) < flip.sentAt + windowMs)
      continue;
    const want = flip.kind === 'grant' ? 'realtime' : 'delayed';
    const told = client.modeChanges.find(
      (m) => m.at >= flip.sentAt && m.mode === want && symbolProduct.get(m.channel.slice(2)) === flip.product,
    );
    const latency = told === undefined ? Number.POSITIVE_INFINITY : told.at - flip.ackAt;
    const text = `${flip.kind} ${flip.user}/${flip.product} sent ${new Date(flip.sentAt).toISOString()}, answered after ${flip.ackAt - flip.sentAt} ms: ${told ? `told ${latency} ms after the answer` : 'never told'}`;
    // With the bus down the change feed cannot carry a change (edges reload everyone when it
    // returns); with the tables locked no edge can apply one (the user is unverified meanwhile).
    const span = heldBackSpans.find((o) => flip.ackAt + windowMs >= o.from && flip.sentAt <= o.to);
    if (latency > windowMs && span) {
      heldBack.push(`entitlement change told late (${span.why}): ${text}`);
      continue;
    }
    latencies.push(latency);
    if (latency > windowMs) late.push(text);
  }
  latencies.sort((a, b) => a - b);
  return {
    p50: latencies.length ? latencies[Math.floor(latencies.length / 2)] : undefined,
    max: latencies.length ? latencies[latencies.length - 1] : undefined,
    late,
    heldBack,
  };
}

/**
 * What the user revoked during the Redis outage saw: when it was told, and its last real-time
 * event of the product. The leak check judges it; this says it in words.
 */
function victimNote(
  clients: readonly DrillClient[],
  victim: { user: string; product: string },
  fault: FaultRecord,
  productIds: readonly string[],
  symbolProduct: ReadonlyMap<string, string>,
): string {
  const client = clients.find((c) => c.user === victim.user);
  if (client === undefined) return `${victim.user} has no client`;
  const told = client.modeChanges.find(
    (m) =>
      m.at >= fault.at && m.mode === 'delayed' && symbolProduct.get(m.channel.slice(2)) === victim.product,
  );
  const product = productIds.indexOf(victim.product);
  let last = 0;
  for (let i = 0; i < client.log.length; i += LOG_FIELDS) {
    if (client.log[i + F_PRODUCT] === product && client.log[i + F_MODE] === REALTIME)
      last = Math.max(last, client.log[i + F_RECV] as number);
  }
  const since = (at: number) => `${at - fault.at} ms after Redis was killed`;
  return `${victim.user} was ${told ? `told ${victim.product} is delayed ${since(told.at)}` : `never told ${victim.product} is delayed`}; its last real-time ${victim.product} event came ${last >= fault.at ? since(last) : 'before the kill'}`;
}

/** Error statuses the honest clients received, by code: none is expected. */
function honestErrors(clients: readonly DrillClient[]): string {
  const byCode = new Map<string, number>();
  for (const c of clients)
    for (const e of c.errors)
      byCode.set(String(e.code ?? e.message), (byCode.get(String(e.code ?? e.message)) ?? 0) + 1);
  return byCode.size === 0
    ? 'honest clients received no error status'
    : `honest clients received error statuses: ${[...byCode].map(([code, n]) => `${n} × ${code}`).join(', ')}`;
}

/** One table row: the fault's window [at, end) measured against the vendor log and the clients. */
function faultRow(fault: FaultRecord, vendor: DrillVendor, truth: ReturnType<typeof clientTruth>): FaultRow {
  let sent = 0;
  let reached = 0;
  for (let q = 1; q <= vendor.sentAt.length; q++) {
    const t = vendor.sentAt[q - 1] as number;
    if (t < fault.at || t >= fault.end) continue;
    sent++;
    if (truth.reached.has(q)) reached++;
  }
  const inWindow = (v: Violation) => v.at >= fault.at && v.at < fault.end;
  const leaks = truth.leaks.filter(inWindow).length;
  const early = truth.earlyDelayed.filter(inWindow).length;
  return {
    fault: fault.name,
    recoveryMs: fault.recoveryMs,
    ticksMissed: sent - reached,
    usageLost: undefined,
    boundedLoss: undefined,
    entitlementLeaks: leaks,
    earlyDelayed: early,
    throughputHeld: sent === 0 ? undefined : reached / sent,
    eventsPerSecond: Math.round(reached / Math.max(1, (fault.end - fault.at) / 1000)),
    ok: fault.failures.length === 0 && leaks === 0 && early === 0,
  };
}
