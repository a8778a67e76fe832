/** What a drill run found, as printed and as written to bench/drill.json. */

export interface FaultRow {
  fault: string;
  /** Fault → recovered (what recovered is stated per fault in docs/drill.md). */
  recoveryMs: number | undefined;
  /** Vendor events sent in the window that no watcher received in real time. */
  ticksMissed: number;
  /** Real-time deliveries clients received that the ledger does not count (set where attributable). */
  usageLost: number | undefined;
  /**
   * Of the real-time deliveries the ledger does not count, those within the documented bound of a
   * SIGKILLed edge (its last flush interval): not a failure (set on the edge-kill row).
   */
  boundedLoss: number | undefined;
  entitlementLeaks: number;
  earlyDelayed: number;
  /** Share of the vendor's events in the window that reached a watcher in real time. */
  throughputHeld: number | undefined;
  eventsPerSecond: number;
  ok: boolean;
}

export interface DrillResult {
  ok: boolean;
  startedAt: string;
  durationS: number;
  parameters: Record<string, number | string>;
  faults: FaultRow[];
  totals: Record<string, number | boolean | undefined>;
  notes: string[];
  probes: Array<{ probe: string; expected: string; observed: string; ok: boolean }>;
  failures: string[];
  /** Where the processes' logs were kept (only when the drill failed). */
  logsDir?: string;
}

const show = (v: number | undefined, digits = 0) => (v === undefined ? '—' : v.toFixed(digits));

/** The drill's table, as plain text. */
export function formatTable(result: DrillResult): string {
  const header = [
    'fault',
    'recovery ms',
    'ticks missed',
    'usage lost',
    'bounded loss',
    'double-counted',
    'leaks',
    'early delayed',
    'throughput held',
    'ok',
  ];
  const rows = result.faults.map((r) => [
    r.fault,
    show(r.recoveryMs),
    String(r.ticksMissed),
    show(r.usageLost),
    show(r.boundedLoss),
    '—',
    String(r.entitlementLeaks),
    String(r.earlyDelayed),
    r.throughputHeld === undefined
      ? '—'
      : `${(r.throughputHeld * 100).toFixed(1)} % (${r.eventsPerSecond}/s)`,
    r.ok ? 'yes' : 'NO',
  ]);
  const t = result.totals;
  rows.push([
    'whole drill',
    '',
    '',
    String(t.usageLost),
    String(t.usageBoundedLoss),
    String(t.usageDoubleCounted),
    String(t.entitlementLeaks),
    String(t.earlyDelayed),
    '',
    result.ok ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)))
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The table, the notes, the probes and the failures, for a terminal. */
export function formatResult(result: DrillResult): string {
  const out = [formatTable(result), ''];
  for (const note of result.notes) out.push(`  ${note}`);
  for (const p of result.probes) out.push(`  ${p.ok ? 'ok  ' : 'FAIL'} ${p.probe}: ${p.observed}`);
  const t = result.totals;
  out.push(
    `  ${t.clientEvents} events to clients (${t.realtimeEvents} real time, ${t.delayedEvents} delayed); ledger deliveries ${t.ledgerDeliveries} vs clients ${t.clientRealtimeDeliveries}`,
    `  ingest takeover: real time again ${show(t.ingestTakeoverMs as number | undefined)} ms after the leader's kill (the new leader's lease → first publish ${show(t.ingestTakeoverFirstPublishMs as number | undefined)} ms), ${show(t.ingestTakeoverTicksMissed as number | undefined)} ticks missed`,
    `  entitlement switch p50 ${show(t.switchLatencyP50Ms as number | undefined)} ms, max ${show(t.switchLatencyMaxMs as number | undefined)} ms; vendor connections at once ≤ ${t.maxSimultaneousVendorConnections}; report matches: ${t.reportMatches}; audit verified: ${t.auditVerified}`,
  );
  if (result.failures.length) {
    out.push('', `FAILURES (${result.failures.length}):`);
    for (const f of result.failures) out.push(`  - ${f}`);
  } else out.push('', 'no failures');
  if (result.logsDir) out.push(`process logs kept in ${result.logsDir}`);
  return out.join('\n');
}
