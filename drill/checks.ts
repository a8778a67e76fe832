/**
 * The drill's verdict: a table of named checks, each saying what it proves and judging the run's
 * evidence into failures (in words, with samples) and the figures it measured. The failures are
 * listed in table order; docs/drill.md states each rule in prose.
 */
import type { Evidence } from './evidence.js';
import type { FaultRecord } from './faults.js';
import { BOUNDED_LOSS_TOLERANCE_MS, type ClientTruth, ticksIn, type Violation } from './ground-truth.js';
import type { DrillResult, FaultRow } from './result.js';
import type { DrillVendor } from './vendor.js';

/** The whole drill's figures, in the order `bench/drill.json` lists them after the event counts. */
const FIGURES = [
  'usageLost',
  'usageBoundedLoss',
  'usageDoubleCounted',
  'entitlementLeaks',
  'earlyDelayed',
  'maxSimultaneousVendorConnections',
  'ingestTakeoverMs',
  'ingestTakeoverFirstPublishMs',
  'ingestTakeoverTicksMissed',
  'switchLatencyP50Ms',
  'switchLatencyMaxMs',
  'killedEdgeSessionsOpenInLedger',
  'killedEdgeSessionsSwept',
  'reportMatches',
  'auditVerified',
] as const;
type Figure = (typeof FIGURES)[number];
type Value = number | boolean | undefined;

interface Verdict {
  /** Empty when the check passed. */
  failures: string[];
  /**
   * What it measured. A count several checks report is the sum of theirs: usage lost has four
   * causes and double counting two, each judged by its own check.
   */
  figures?: Partial<Record<Figure, Value>>;
  /**
   * The fault whose table row this check also judges: the row fails with it, and shows the usage
   * it attributes to that fault.
   */
  row?: { fault: FaultRecord | undefined; usageLost?: number; boundedLoss?: number };
}

interface Check {
  name: string;
  proves: string;
  judge(run: Evidence): Verdict;
}

const failIf = (failed: boolean | number, words: () => string): string[] => (failed ? [words()] : []);

function describe(violations: readonly Violation[]): string {
  return violations
    .slice(0, 3)
    .map((v) => `${v.user}/${v.product} at ${new Date(v.at).toISOString()}: ${v.detail}`)
    .join('; ');
}

const CHECKS: readonly Check[] = [
  {
    name: 'faults',
    proves:
      'each fault did its damage and the hub recovered by itself as the fault defines it (docs/drill.md, the faults in order)',
    judge: ({ faults }) => ({
      failures: faults.flatMap((f) => f.failures.map((failure) => `${f.name}: ${failure}`)),
    }),
  },
  {
    name: 'live changes made',
    proves: 'the admin API took every grant and revocation of the flippers, through every fault',
    judge: ({ flipErrors }) => ({ failures: flipErrors.map((e) => `live entitlement change failed: ${e}`) }),
  },
  {
    name: 'ledger caught up',
    proves: 'once the clients closed, the edges’ spools and the usage stream emptied: the ledger is whole',
    judge: ({ settled }) => ({
      failures: failIf(
        !settled,
        () => 'the ledger did not catch up: usage events still in the stream 60 s after the clients closed',
      ),
    }),
  },
  {
    name: 'entitlement leaks',
    proves:
      'no real-time event reached a user without a grant and the agreement at that instant, or more than the switch window after the grant ended (DESIGN rules 2 and 5)',
    judge: ({ truth }) => ({
      figures: { entitlementLeaks: truth.leaks.length },
      failures: failIf(
        truth.leaks.length,
        () =>
          `${truth.leaks.length} real-time events reached users not entitled at that instant, e.g. ${describe(truth.leaks)}`,
      ),
    }),
  },
  {
    name: 'early delayed',
    proves: 'no event delivered as delayed arrived before t + delay (DESIGN rule 4)',
    judge: ({ truth }) => ({
      figures: { earlyDelayed: truth.earlyDelayed.length },
      failures: failIf(
        truth.earlyDelayed.length,
        () =>
          `${truth.earlyDelayed.length} delayed events arrived before t + delay, e.g. ${describe(truth.earlyDelayed)}`,
      ),
    }),
  },
  {
    name: 'modes known',
    proves: 'every event arrived on a channel whose mode the edge had told the client',
    judge: ({ truth }) => ({
      failures: failIf(
        truth.unknownModeEvents,
        () => `${truth.unknownModeEvents} events arrived on a channel the client had no mode for`,
      ),
    }),
  },
  {
    name: 'no double counting',
    proves: 'per user, product and day, the ledger counts no more deliveries than the clients received',
    judge: ({ ledger }) => ({
      figures: { usageDoubleCounted: ledger.doubleCounted },
      failures: failIf(
        ledger.doubleCounted,
        () =>
          `the ledger counts ${ledger.doubleCounted} deliveries more than clients received: ${ledger.doubleSamples.join('; ')}`,
      ),
    }),
  },
  {
    name: 'usage metered',
    proves: 'every real-time delivery the clients received from an edge that was not killed is in the ledger',
    judge: ({ ledger }) => ({
      figures: { usageLost: ledger.lostElsewhere },
      failures: failIf(
        ledger.lostElsewhere,
        () =>
          `${ledger.lostElsewhere} real-time deliveries received by clients never reached the ledger (not explained by the edge kill): ${ledger.lostSamples.join('; ')}`,
      ),
    }),
  },
  {
    name: 'SIGTERM loses nothing',
    proves:
      'a clean stop flushes everything the edge counted and closes every session it held, itself, by its exit: no bounded loss',
    judge: ({ ledger, sessions, terminated, flushMs }) => ({
      figures: { usageLost: ledger.lostAtTermination },
      row: { fault: terminated, usageLost: ledger.lostAtTermination, boundedLoss: 0 },
      failures: [
        ...failIf(
          ledger.lostAtTermination,
          () =>
            `${ledger.lostAtTermination} real-time deliveries by the SIGTERMed edge in its last ${flushMs} ms before it stopped were never metered: a clean stop must flush them: ${ledger.lostSamples.join('; ')}`,
        ),
        ...failIf(
          sessions.terminated.length,
          () =>
            `sessions of the SIGTERMed edge not closed by its stop: ${sessions.terminated.slice(0, 5).join('; ')}`,
        ),
      ],
    }),
  },
  {
    name: 'bounded loss',
    proves:
      'a SIGKILLed edge loses at most the delivery counts of its last flush interval (docs/usage-reports.md)',
    judge: ({ ledger, killed, flushMs }) => ({
      figures: { usageLost: ledger.lostOnKilledEdge, usageBoundedLoss: ledger.boundedLoss },
      row: { fault: killed, usageLost: ledger.lostOnKilledEdge, boundedLoss: ledger.boundedLoss },
      failures: failIf(
        ledger.lostOnKilledEdge,
        () =>
          `${ledger.lostOnKilledEdge} real-time deliveries by the killed edge were never metered beyond the bounded loss (its last ${flushMs} ms of counts, ± ${BOUNDED_LOSS_TOLERANCE_MS} ms): ${ledger.lostSamples.join('; ')}`,
      ),
    }),
  },
  {
    name: 'first access',
    proves:
      'the ledger’s first real-time access exists exactly when a client received real time, no later than the first receipt; never excused',
    judge: ({ ledger }) => ({
      figures: {
        usageLost: ledger.missingFirstAccess.length,
        usageDoubleCounted: ledger.phantomFirstAccess.length,
      },
      failures: [
        ...failIf(
          ledger.missingFirstAccess.length,
          () =>
            `first real-time access missing from the ledger: ${ledger.missingFirstAccess.slice(0, 5).join('; ')}`,
        ),
        ...failIf(
          ledger.phantomFirstAccess.length,
          () =>
            `ledger shows real-time access clients never had: ${ledger.phantomFirstAccess.slice(0, 5).join('; ')}`,
        ),
        ...failIf(
          ledger.lateFirstAccess.length,
          () =>
            `ledger first access later than the first receipt: ${ledger.lateFirstAccess.slice(0, 5).join('; ')}`,
        ),
      ],
    }),
  },
  {
    name: 'usage report',
    proves:
      'the month’s usage report lists exactly the users entitled or accessing per product, in the month’s category (DESIGN rule 3)',
    judge: ({ report }) => ({
      figures: { reportMatches: report.rowsMatch && report.detailMismatches.length === 0 },
      failures: [
        ...failIf(
          !report.rowsMatch,
          () =>
            `usage report rows ${JSON.stringify(report.reportedRows)} differ from ground truth ${JSON.stringify(report.expectedRows)}`,
        ),
        ...failIf(
          report.detailMismatches.length,
          () => `usage report details differ: ${report.detailMismatches.slice(0, 5).join('; ')}`,
        ),
      ],
    }),
  },
  {
    name: 'killed edge’s sessions swept',
    proves:
      'the meters’ sweeper closed every session of the SIGKILLed edge as edge_lost, no later than the kill',
    judge: ({ sessions, killed }) => ({
      figures: {
        killedEdgeSessionsOpenInLedger: sessions.openOnKilledEdge,
        killedEdgeSessionsSwept: sessions.sweptOnKilledEdge,
      },
      row: { fault: killed },
      failures: [
        ...failIf(
          sessions.openOnKilledEdge,
          () =>
            `${sessions.openOnKilledEdge} sessions of the killed edge are still open in the ledger (usage_sessions.closed_at null) ${Math.round(sessions.waitedMs / 1000)} s after the kill: the meters' sweeper did not close them`,
        ),
        ...failIf(
          sessions.closedLate.length,
          () =>
            `sessions of the killed edge closed after it died or not as edge_lost: ${sessions.closedLate.slice(0, 5).join('; ')}`,
        ),
      ],
    }),
  },
  {
    name: 'surviving sessions',
    proves: 'every session of the edges that stayed up closed when its client did, none by the sweeper',
    judge: ({ sessions }) => ({
      failures: [
        ...failIf(
          sessions.sweptElsewhere,
          () =>
            `${sessions.sweptElsewhere} sessions of surviving edges ended as edge_lost: the sweeper closed live sessions and no session_close replaced it`,
        ),
        ...failIf(
          sessions.openElsewhere,
          () =>
            `${sessions.openElsewhere} sessions of surviving edges are still open in the ledger after every client closed`,
        ),
      ],
    }),
  },
  {
    name: 'audit',
    proves: '`mdhub audit verify` accepts the audit log the run left',
    judge: ({ audit }) => ({
      figures: { auditVerified: audit.code === 0 },
      failures: failIf(audit.code !== 0, () => `mdhub audit verify failed: ${audit.stderr.trim()}`),
    }),
  },
  {
    name: 'one vendor connection',
    proves: 'never more than one authenticated vendor connection at once, through the ingest failover',
    judge: ({ vendor, vendorOverlaps }) => ({
      figures: { maxSimultaneousVendorConnections: vendor.maxSimultaneous },
      failures: failIf(
        vendor.maxSimultaneous > 1,
        () =>
          `the vendor saw ${vendor.maxSimultaneous} simultaneous connections: one authenticated while another was at ${vendorOverlaps.join(', ')}`,
      ),
    }),
  },
  {
    name: 'vendor feed',
    proves: 'the vendor fed the whole drill: its send log was sized for the run',
    judge: ({ vendor }) => ({
      figures: {},
      failures: failIf(vendor.overflowed, () => 'the vendor’s send log filled up and the feed stopped early'),
    }),
  },
  {
    name: 'ingest takeover',
    proves:
      'how long real time stopped when the ingest leader was killed, and the vendor ticks lost meanwhile (measured, not asserted: a timing on a loaded machine)',
    judge: ({ faults, vendor, truth }) => {
      const fault = faults.find((f) => f.ingestTakeover);
      if (fault?.ingestTakeover === undefined) return { failures: [] };
      const gap =
        fault.recoveryMs === undefined
          ? undefined
          : ticksIn(vendor.sentAt, truth, fault.at, fault.at + fault.recoveryMs);
      return {
        figures: {
          ingestTakeoverMs: fault.recoveryMs,
          ingestTakeoverFirstPublishMs:
            fault.ingestTakeover.firstPublishMs === undefined
              ? undefined
              : Math.round(fault.ingestTakeover.firstPublishMs),
          ingestTakeoverTicksMissed: gap?.missed,
        },
        failures: [],
      };
    },
  },
  {
    name: 'switch time',
    proves:
      'each live change was told to its client within the switch window of the admin API’s answer, except while the hub could not carry or apply it',
    judge: ({ switches, switchWindowMs }) => ({
      figures: { switchLatencyP50Ms: switches.p50, switchLatencyMaxMs: switches.max },
      failures: failIf(
        switches.late.length,
        () =>
          `entitlement changes told to clients after more than ${switchWindowMs} ms: ${switches.late.slice(0, 5).join('; ')}`,
      ),
    }),
  },
];

/** One table row: the fault's window [at, end) measured against the vendor log and the clients. */
function faultRow(fault: FaultRecord, vendor: DrillVendor, truth: ClientTruth): FaultRow {
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

/** Runs every check: the table's rows, the failures in check order, and the whole drill's totals. */
export function judge(run: Evidence): Pick<DrillResult, 'faults' | 'failures' | 'totals'> {
  const rows = run.faults.map((f) => faultRow(f, run.vendor, run.truth));
  const failures: string[] = [];
  const figures = new Map<Figure, Value>();
  for (const check of CHECKS) {
    const verdict = check.judge(run);
    failures.push(...verdict.failures);
    for (const [name, value] of Object.entries(verdict.figures ?? {}) as Array<[Figure, Value]>) {
      const before = figures.get(name);
      figures.set(name, typeof before === 'number' && typeof value === 'number' ? before + value : value);
    }
    const judged = verdict.row?.fault;
    const row = judged && rows[run.faults.indexOf(judged)];
    if (row) {
      row.usageLost = verdict.row?.usageLost ?? row.usageLost;
      row.boundedLoss = verdict.row?.boundedLoss ?? row.boundedLoss;
      row.ok &&= verdict.failures.length === 0;
    }
  }
  const { truth, ledger, vendor } = run;
  return {
    faults: rows,
    failures,
    totals: {
      vendorEvents: vendor.sent,
      clientEvents: truth.events,
      realtimeEvents: truth.realtimeEvents,
      delayedEvents: truth.delayedEvents,
      ledgerDeliveries: ledger.ledgerDeliveries,
      clientRealtimeDeliveries: ledger.clientDeliveries,
      ...Object.fromEntries(FIGURES.map((name) => [name, figures.get(name)])),
    },
  };
}
