/**
 * What a run left behind, gathered once the clients have closed: the ledger caught up, the ground
 * truth from the client logs against the ledger and the usage report, the session log once the
 * meters have swept the killed edge's sessions, the audit log's verdict, how fast each live change
 * reached its client, and the notes that say it in words. The checks judge it; nothing here does.
 */
import type { Catalog } from '../config/index.js';
import { type Finished, runCli } from '../testing/index.js';
import { EDGE_LOST } from '../usage/index.js';
import type { DrillClient } from './clients.js';
import { type DrillContext, type FaultRecord, until } from './faults.js';
import {
  BOUNDED_LOSS_TOLERANCE_MS,
  type ClientTruth,
  clientTruth,
  compareLedger,
  compareReport,
  EntitlementHistory,
  type LedgerComparison,
  type ReportComparison,
} from './ground-truth.js';
import type { Flip, ScheduleRun } from './schedule.js';
import type { LoopStalls } from './stalls.js';
import type { Topology } from './topology.js';
import type { DrillVendor } from './vendor.js';

/**
 * `MDHUB_SESSION_SWEEP_MS` for the meters: short, so the killed edge's sessions are closed soon
 * after their slots lapse (the slot ttl, 30 s, is the edges' and is not shortened).
 */
export const SESSION_SWEEP_MS = 1_000;
/** The edges' session slot ttl (`EdgeOptions.sessionTtlMs` default): when a dead edge's slots lapse. */
const SLOT_TTL_MS = 30_000;

export interface Evidence extends ScheduleRun {
  vendor: DrillVendor;
  /** `MDHUB_USAGE_FLUSH_MS` and the leak rule's window, as the run had them. */
  flushMs: number;
  switchWindowMs: number;
  /** Whether the edges' spools and the usage stream were empty within 60 s of the clients closing. */
  settled: boolean;
  truth: ClientTruth;
  ledger: LedgerComparison;
  report: ReportComparison;
  sessions: SessionCheck;
  /** `mdhub audit verify`. */
  audit: Finished;
  switches: SwitchLatencies;
  /** The fault that SIGKILLed an edge, and the one that SIGTERMed one. */
  killed: FaultRecord | undefined;
  terminated: FaultRecord | undefined;
  /** The run in words: each fault's window and notes, the sweep, the clients' errors, late changes. */
  notes: string[];
  /** When a vendor connection authenticated while another already was, with the fault window it fell in. */
  vendorOverlaps: string[];
}

export interface EvidenceOptions {
  /** The products and their licensors, as the hub ran them. */
  catalog: Catalog;
  /** `MDHUB_DELAY_MS`, `MDHUB_USAGE_FLUSH_MS` and the leak rule's window, as in `DrillOptions`. */
  delayMs: number;
  flushMs: number;
  switchWindowMs: number;
  /** When the drill started: the usage report compared is that month's. */
  startedAt: number;
  log: (line: string) => void;
}

/** Gathers the evidence once every client has closed and the vendor has stopped. */
export async function gatherEvidence(
  ctx: DrillContext,
  run: ScheduleRun,
  options: EvidenceOptions,
): Promise<Evidence> {
  const { topology, clients, admin, productIds, symbolProduct } = ctx;
  const { faults } = run;
  const settled = await settleLedger(topology);

  options.log('checking against the client logs');
  const killed = faults.find((f) => f.killedEdge);
  const terminated = faults.find((f) => f.terminatedEdge);
  const licensorOf = new Map([...options.catalog.products.values()].map((p) => [p.id, p.licensor]));
  const history = await EntitlementHistory.load(topology.db, licensorOf);
  const truth = clientTruth(clients, history, {
    delayMs: options.delayMs,
    switchWindowMs: options.switchWindowMs,
    productIds,
    killedEdge: killed?.killedEdge && { ...killed.killedEdge, at: killed.at, flushMs: options.flushMs },
    terminatedEdge: terminated?.terminatedEdge && { ...terminated.terminatedEdge, flushMs: options.flushMs },
    stalls: ctx.stalls,
  });
  const userSet = new Set([...clients.map((c) => c.user), 'drill-hostile']);
  const ledger = await compareLedger(topology.db, truth, userSet);
  const month = new Date(options.startedAt).toISOString().slice(0, 7);
  const reported = (await admin.get(
    `/admin/reports/usage?month=${month}&format=json&detail=1`,
  )) as Parameters<typeof compareReport>[0];
  const monthStart = Date.parse(`${month}-01T00:00:00Z`);
  const monthEnd = Date.UTC(new Date(monthStart).getUTCFullYear(), new Date(monthStart).getUTCMonth() + 1);
  const report = compareReport(reported, truth, admin, history, userSet, productIds, {
    start: monthStart,
    end: monthEnd,
  });

  options.log('waiting for the meters to sweep the killed edge’s sessions');
  const edgeId = (index: number) => `drill-${topology.edges[index]?.name}`;
  const sessions = await sweptSessions(
    topology,
    killed?.killedEdge && edgeId(killed.killedEdge.index),
    killed?.at,
    terminated?.terminatedEdge && {
      edgeId: edgeId(terminated.terminatedEdge.index),
      exitedAt: terminated.terminatedEdge.exitedAt,
    },
  );
  const audit = await runCli(['audit', 'verify'], topology.env() as Record<string, string>, 60_000);
  for (const fault of faults) if (fault.afterwards) fault.notes.push(fault.afterwards(truth));
  const switches = switchLatencies(
    run.flips,
    clients,
    symbolProduct,
    faults.flatMap((f) => (f.changesHeldBack ? [f.changesHeldBack] : [])),
    options.switchWindowMs,
    ctx.stalls,
  );
  const vendorOverlaps = (await ctx.vendor.overlaps()).map((at) => {
    const window = faults.findLast((f) => f.at <= at);
    return `${new Date(at).toISOString()} (${window ? `in the window of ${window.name}` : 'before the baseline, while the clients connected'})`;
  });
  const notes = [
    ...faults.map(
      (f) => `${f.name}: at ${new Date(f.at).toISOString()}, window until ${new Date(f.end).toISOString()}`,
    ),
    ...faults.flatMap((f) => f.notes.map((n) => `${f.name}: ${n}`)),
    `edge killed: the meters' sweeper closed ${sessions.sweptOnKilledEdge} of its sessions as edge_lost; checked ${Math.round(sessions.waitedMs / 1000)} s after the kill`,
    honestErrors(clients),
    ...switches.heldBack,
    ctx.stalls.describe(),
    ...switches.readLate,
    ...truth.readLateByTheDrill
      .slice(0, 5)
      .map(
        (v) =>
          `real-time event read after the switch window, within it at the earliest instant it could have reached the drill: ${v.user}/${v.product} at ${new Date(v.at).toISOString()}: ${v.detail}`,
      ),
    ...(truth.readLateByTheDrill.length > 5
      ? [`… and ${truth.readLateByTheDrill.length - 5} more such events`]
      : []),
    ...truth.sentInTime
      .slice(0, 5)
      .map(
        (v) =>
          `real-time event read after the switch window, sent by the edge within it (a mode status it stamped within the window followed it on the socket): ${v.user}/${v.product} at ${new Date(v.at).toISOString()}: ${v.detail}`,
      ),
    ...(truth.sentInTime.length > 5 ? [`… and ${truth.sentInTime.length - 5} more such events`] : []),
  ];
  return {
    ...run,
    vendor: ctx.vendor,
    flushMs: options.flushMs,
    switchWindowMs: options.switchWindowMs,
    settled,
    truth,
    ledger,
    report,
    sessions,
    audit,
    switches,
    killed,
    terminated,
    notes,
    vendorOverlaps,
  };
}

/** Waits until every usage event is in the ledger: the edges' spools empty and the stream drained. */
async function settleLedger(topology: Topology): Promise<boolean> {
  const redis = await topology.redis.connect();
  const key = `${topology.prefix}:work:{usage}`;
  try {
    let quiet = 0;
    const done = await until(
      async () => {
        let spooled = 0;
        for (const edge of topology.edges)
          if (edge.running) spooled += (await edge.metric('mdhub_edge_usage_spool_events')) ?? 0;
        // The meter deletes what it acknowledges, so an empty stream means everything is counted.
        const waiting = spooled + (await redis.command<number>(key, ['XLEN', key]));
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

export interface SessionCheck {
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
  killedEdgeId: string | undefined,
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

export interface SwitchLatencies {
  /** Of the changes not held back, in ms from the admin API's answer to the client being told. */
  p50: number | undefined;
  max: number | undefined;
  /** Changes told after the switch window (or never), in words. */
  late: string[];
  /** Changes told late while the hub could not carry or apply them, in words (not failures). */
  heldBack: string[];
  /**
   * Changes read late that the edge switched in time: by its stamp on the status (`at`), or, for a
   * status without one, at the earliest arrival after the drill's own loop stalled.
   */
  readLate: string[];
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
  stalls: LoopStalls,
): SwitchLatencies {
  const byUser = new Map(clients.map((c) => [c.user, c]));
  const latencies: number[] = [];
  const late: string[] = [];
  const heldBack: string[] = [];
  const readLate: string[] = [];
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
    const text = `${flip.kind} ${flip.user}/${flip.product} sent ${new Date(flip.sentAt).toISOString()}, answered after ${flip.ackAt - flip.sentAt} ms: ${told ? `told ${told.reason ?? told.mode} ${latency} ms after the answer, on edge ${session.edge}` : 'never told'}`;
    // With the bus down the change feed cannot carry a change (edges reload everyone when it
    // returns); with the tables locked no edge can apply one (the user is unverified meanwhile).
    const span = heldBackSpans.find((o) => flip.ackAt + windowMs >= o.from && flip.sentAt <= o.to);
    if (latency > windowMs && span) {
      heldBack.push(`entitlement change told late (${span.why}): ${text}`);
      continue;
    }
    // The edge's own stamp on the status: when it switched, however late the drill read it.
    if (latency > windowMs && told?.sentAt !== undefined && told.sentAt - flip.ackAt <= windowMs) {
      readLate.push(
        `entitlement change switched in time by the edge (its status stamped ${told.sentAt - flip.ackAt} ms after the answer), read late by the drill: ${text}`,
      );
      continue;
    }
    const arrived = told === undefined ? undefined : stalls.earliestArrival(told.at, flip.sentAt);
    if (latency > windowMs && arrived !== undefined && arrived - flip.ackAt <= windowMs) {
      readLate.push(
        `entitlement change read late because the drill's own loop stalled (at the earliest arrival ${arrived - flip.ackAt} ms after the answer): ${text}`,
      );
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
    readLate,
  };
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
