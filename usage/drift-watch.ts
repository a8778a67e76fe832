/**
 * The drift watch (api role): whether the latest filing of each filed month and licensor still
 * matches the report regenerated now, as the gauge `mdhub_report_drift{month,licensor}` (1: it no
 * longer matches) and as the state the console's banner shows.
 *
 * Regenerating every filed month on every check would read years of ledger each minute, so a
 * check regenerates only the months something may have changed since the last one:
 * - usage counted late for the month (the month's count of `usage_late` rows changed);
 * - an entitlement change whose effect date is before the month's end (audit records on `user:`
 *   subjects, read by sequence number from where the last check stopped: records are numbered
 *   in commit order, so none is passed over);
 * - a new filing or amendment of the month.
 * The first check after start, and one every `fullEveryMs`, regenerates every filed month
 * whatever the signs (a new catalog or hub version, a database edited by hand). What a check
 * reads of the signs it reads before regenerating, so a change committed meanwhile is seen by the
 * next check at the latest.
 */
import { Gauge, type Registry } from 'prom-client';
import { queryAudit, streamAudit } from '../audit/index.js';
import type { Catalog } from '../config/index.js';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import { type Logger, silentLogger } from '../platform/logger.js';
import { createMetricsRegistry } from '../platform/metrics.js';
import { reachesInto } from './drift.js';
import { regenerate, sameFiles } from './filing-files.js';
import { filingMonth } from './filing-scope.js';
import { type Filing, latestFilings } from './filing-store.js';
import { compareText } from './monthly.js';

export interface DriftWatchOptions {
  db: Db;
  catalog: Catalog;
  logger?: Logger;
  /** Where `mdhub_report_drift` goes; default a private registry. */
  metrics?: Registry;
  /** Pause between checks (default 60 000 ms). */
  intervalMs?: number;
  /** How often every filed month is regenerated, changed or not (default 86 400 000 ms: daily). */
  fullEveryMs?: number;
  /** The clock (default `Date.now`). */
  now?: () => number;
}

/** One chain: a month and licensor scope, and whether its latest filing still matches. */
export interface ChainDrift {
  month: string;
  /** null: the filing of every licensor. */
  licensor: string | null;
  /** The latest filing of the chain. */
  filing: number;
  drifted: boolean;
  /** Why the month could not be regenerated (it then counts as drifted); absent otherwise. */
  error?: string;
}

export interface DriftState {
  /** When the last check finished, epoch ms; null before the first. */
  checkedAt: number | null;
  /** Every chain, by month then licensor scope (every licensor first). */
  chains: ChainDrift[];
}

export interface DriftWatch {
  /** Checks now (after a check already under way) and resolves to the state it found. */
  refresh(): Promise<DriftState>;
  /** The state of the last check, without checking. */
  state(): DriftState;
  stop(): Promise<void>;
}

const GAUGE = 'mdhub_report_drift';

function driftGauge(registry: Registry): Gauge<'month' | 'licensor'> {
  return (
    (registry.getSingleMetric(GAUGE) as Gauge<'month' | 'licensor'> | undefined) ??
    new Gauge({
      name: GAUGE,
      help: 'Whether the latest filing of a month (licensor "all": the filing of every licensor) no longer matches the report regenerated now: 1 drifted, 0 matches',
      labelNames: ['month', 'licensor'] as const,
      registers: [registry],
    })
  );
}

/** Audit records per page when reading what was entered since the last check. */
const AUDIT_PAGE = 1000;

/** How far back the first check looks for the end of the audit log before settling on the latest filing's record. */
const LOG_END_WINDOW_MS = 600_000;

const chainKey = (month: string, licensor: string | null) => `${month}\u0000${licensor ?? ''}`;

class Watch implements DriftWatch {
  readonly #db: Db;
  readonly #catalog: Catalog;
  readonly #logger: Logger;
  readonly #gauge: Gauge<'month' | 'licensor'>;
  readonly #intervalMs: number;
  readonly #fullEveryMs: number;
  readonly #now: () => number;
  #chains = new Map<string, ChainDrift>();
  #checkedAt: number | null = null;
  #lastFull: number | undefined;
  /** Late events per month at the last check. */
  #late = new Map<string, number>();
  /** The audit record the last check read up to; undefined until something is filed. */
  #auditSeq: number | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #pending: Promise<DriftState> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: DriftWatchOptions) {
    this.#db = options.db;
    this.#catalog = options.catalog;
    this.#logger = (options.logger ?? silentLogger).child({ part: 'drift-watch' });
    this.#gauge = driftGauge(options.metrics ?? createMetricsRegistry({ defaultMetrics: false }));
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#fullEveryMs = options.fullEveryMs ?? 86_400_000;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    const tick = () => {
      this.refresh()
        .catch((error: unknown) =>
          this.#logger.error({ err: error }, 'checking filed months for drift failed'),
        )
        .finally(() => {
          if (!this.#stopped) this.#timer = setTimeout(tick, this.#intervalMs).unref();
        });
    };
    tick();
  }

  refresh(): Promise<DriftState> {
    // Callers arriving while a check waits to start share it; one already started may have read
    // before their change, so they queue behind it.
    this.#pending ??= this.#tail.then(async () => {
      this.#pending = undefined;
      try {
        return await this.#check();
      } catch (error) {
        // The signs it read (cursors moved on) may be lost with it: the next check looks at everything.
        this.#lastFull = undefined;
        throw error;
      }
    });
    this.#tail = this.#pending.catch(() => undefined);
    return this.#pending;
  }

  state(): DriftState {
    const chains = [...this.#chains.values()].sort(
      (a, b) => compareText(a.month, b.month) || compareText(a.licensor ?? '', b.licensor ?? ''),
    );
    return { checkedAt: this.#checkedAt, chains };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tail;
  }

  async #check(): Promise<DriftState> {
    const at = this.#now();
    const full = this.#lastFull === undefined || at - this.#lastFull >= this.#fullEveryMs;
    const latest = await latestFilings(this.#db);
    const dirty = new Set<string>();
    for (const month of await this.#lateMonths()) dirty.add(month);
    for (const month of await this.#correctedMonths(latest, at)) dirty.add(month);
    for (const filing of latest) {
      const known = this.#chains.get(chainKey(filing.month, filing.licensor));
      if (full || known?.filing !== filing.id) dirty.add(filing.month);
    }

    const chains = new Map<string, ChainDrift>();
    for (const filing of latest) {
      const key = chainKey(filing.month, filing.licensor);
      const known = this.#chains.get(key);
      if (known && !dirty.has(filing.month)) chains.set(key, known);
    }
    for (const month of [...dirty].sort()) {
      const ofMonth = latest.filter((f) => f.month === month);
      if (ofMonth.length === 0) continue;
      for (const chain of await this.#compare(month, ofMonth))
        chains.set(chainKey(chain.month, chain.licensor), chain);
    }
    this.#chains = chains;
    if (full) this.#lastFull = at;
    this.#checkedAt = at;
    this.#gauge.reset();
    const state = this.state();
    for (const chain of state.chains)
      this.#gauge.set({ month: chain.month, licensor: chain.licensor ?? 'all' }, chain.drifted ? 1 : 0);
    return state;
  }

  /**
   * Months whose count of late events changed since the last check. Counted rather than read by
   * arrival number: two meters may commit their late events in another order than they numbered them.
   */
  async #lateMonths(): Promise<string[]> {
    const { rows } = await this.#db.query<{ month: string; n: number }>(
      'select month, count(*)::int8 as n from usage_late group by month',
    );
    const changed = rows.filter((row) => this.#late.get(row.month) !== row.n).map((row) => row.month);
    this.#late = new Map(rows.map((row) => [row.month, row.n]));
    return changed;
  }

  /** Filed months an entitlement change entered since the last check reaches into. */
  async #correctedMonths(latest: readonly Filing[], at: number): Promise<string[]> {
    if (latest.length === 0) return [];
    // Until now nothing was filed, so every filing is new and regenerated: only where the log ends matters.
    if (this.#auditSeq === undefined) {
      this.#auditSeq = await this.#logEnd(latest, at);
      return [];
    }
    const months = new Set<string>();
    for (let after: number | null = this.#auditSeq; after !== null; ) {
      const page = await queryAudit(this.#db, { after, limit: AUDIT_PAGE });
      for (const record of page.records) {
        this.#auditSeq = record.seq;
        for (const filing of latest)
          if (reachesInto(record, filingMonth(filing.month).end)) months.add(filing.month);
      }
      after = page.next;
    }
    return [...months];
  }

  /** A record at or before the end of the log: the latest filing's, or a later one of the last minutes. */
  async #logEnd(latest: readonly Filing[], at: number): Promise<number> {
    let seq = Math.max(...latest.map((f) => f.auditSeq));
    for await (const record of streamAudit(this.#db, { from: at - LOG_END_WINDOW_MS }))
      seq = Math.max(seq, record.seq);
    return seq;
  }

  async #compare(month: string, filings: readonly Filing[]): Promise<ChainDrift[]> {
    try {
      const live = await regenerate(
        this.#db,
        this.#catalog,
        filingMonth(month),
        filings.map((f) => f.licensor),
      );
      return filings.map((f) => ({
        month,
        licensor: f.licensor,
        filing: f.id,
        drifted: !sameFiles(f.files, live.get(f.licensor)!.files),
      }));
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      this.#logger.warn(
        { month, err: error },
        'a filed month could not be regenerated; it counts as drifted',
      );
      return filings.map((f) => ({
        month,
        licensor: f.licensor,
        filing: f.id,
        drifted: true,
        error: error.message,
      }));
    }
  }
}

/** Starts the watch: a first check at once, then one every `intervalMs`. */
export function startDriftWatch(options: DriftWatchOptions): DriftWatch {
  const watch = new Watch(options);
  watch.start();
  return watch;
}
