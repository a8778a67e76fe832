/**
 * Closing the sessions of an edge that died without saying so. A SIGKILLed or cut-off edge never
 * sends `session_close`, so its sessions would stay open in the ledger for ever. The edge's slots
 * in `bus.sessions` lapse a slot ttl after their last renewal, though: the sweeper (part of the
 * meter role) periodically looks at the ledger's open sessions older than that ttl and closes those
 * whose slot is no longer held, with reason `edge_lost` and `closed_at` the last instant the ledger
 * knows the session was alive (its last delivery flush or first access, else its opening).
 *
 * Any number of meters sweep at once: the close is one update guarded by `closed_at is null`, so
 * a session is closed once and the metric counts it once. A `session_close` that arrives later (a
 * partitioned edge that came back) replaces the sweep's close (usage/ledger.ts).
 */
import { Counter, type Registry } from 'prom-client';
import type { Bus } from '../platform/bus/index.js';
import type { Db } from '../platform/db/index.js';
import { type Logger, silentLogger } from '../platform/logger.js';
import { createMetricsRegistry } from '../platform/metrics.js';
import { EDGE_LOST } from './ledger.js';

export interface SessionSweeperOptions {
  db: Db;
  bus: Bus;
  logger?: Logger;
  /** Where `mdhub_meter_sessions_swept_total` goes; default a private registry. */
  metrics?: Registry;
  /** Pause between sweeps (default 15 000 ms, `MDHUB_SESSION_SWEEP_MS`). */
  intervalMs?: number;
  /**
   * Only sessions opened at least this long ago are looked at (default 30 000 ms, the edges' slot
   * ttl): a younger session may not have taken its slot yet, and one that has cannot have lost it.
   */
  minOpenMs?: number;
  /** Open sessions read and checked per query (default 500). */
  pageSize?: number;
}

export interface SessionSweeper {
  /** Runs one sweep now; resolves to the number of sessions this call closed. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

interface OpenSession {
  edge_id: string;
  session_id: string;
  user_id: string;
  opened_at: string | number;
}

const SWEPT_METRIC = 'mdhub_meter_sessions_swept_total';

function sweptCounter(registry: Registry): Counter {
  return (
    (registry.getSingleMetric(SWEPT_METRIC) as Counter | undefined) ??
    new Counter({
      name: SWEPT_METRIC,
      help: 'Ledger sessions closed as edge_lost because their edge stopped renewing their slot',
      registers: [registry],
    })
  );
}

class Sweeper implements SessionSweeper {
  readonly #db: Db;
  readonly #bus: Bus;
  readonly #logger: Logger;
  readonly #swept: Counter;
  readonly #intervalMs: number;
  readonly #minOpenMs: number;
  readonly #pageSize: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #stopped = false;

  constructor(options: SessionSweeperOptions) {
    this.#db = options.db;
    this.#bus = options.bus;
    this.#logger = (options.logger ?? silentLogger).child({ role: 'meter', part: 'session-sweeper' });
    this.#swept = sweptCounter(options.metrics ?? createMetricsRegistry({ defaultMetrics: false }));
    this.#intervalMs = options.intervalMs ?? 15_000;
    this.#minOpenMs = options.minOpenMs ?? 30_000;
    this.#pageSize = options.pageSize ?? 500;
  }

  start(): void {
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.sweep()
        .catch((err: unknown) => {
          // A database or bus outage: nothing is closed on a guess; the next sweep tries again.
          this.#logger.warn({ err }, 'sweeping lost sessions failed; retrying at the next sweep');
        })
        .finally(() => this.#schedule());
    }, this.#intervalMs);
  }

  async sweep(): Promise<number> {
    const openedBefore = Date.now() - this.#minOpenMs;
    let closed = 0;
    // Keyset pages in the index's order, so sessions whose slot is held do not hide the rest.
    let after: { openedAt: number; edge: string; session: string } | undefined;
    while (!this.#stopped) {
      const { rows } = await this.#db.query<OpenSession>(
        `select edge_id, session_id, user_id, opened_at from usage_sessions
          where closed_at is null and opened_at <= $1
            and ($2::int8 is null or (opened_at, edge_id, session_id) > ($2::int8, $3::text, $4::text))
          order by opened_at, edge_id, session_id limit $5`,
        [openedBefore, after?.openedAt ?? null, after?.edge ?? null, after?.session ?? null, this.#pageSize],
      );
      if (rows.length === 0) break;
      const held = await Promise.all(rows.map((r) => this.#bus.sessions.held(r.user_id, r.session_id)));
      const lost = rows.filter((_, i) => !held[i]);
      if (lost.length > 0) closed += await this.#close(lost);
      const last = rows[rows.length - 1] as OpenSession;
      after = { openedAt: Number(last.opened_at), edge: last.edge_id, session: last.session_id };
      if (rows.length < this.#pageSize) break;
    }
    if (closed > 0) {
      this.#swept.inc(closed);
      this.#logger.warn({ sessions: closed }, 'closed sessions whose edge stopped renewing their slot');
    }
    return closed;
  }

  /**
   * Closes the sessions if still open; returns how many this call closed. Rows another meter is
   * closing (or a ledger batch is writing) at this moment are skipped, not waited for: two sweepers
   * never deadlock, and whatever was skipped is looked at again next sweep.
   */
  async #close(lost: readonly OpenSession[]): Promise<number> {
    const { rows } = await this.#db.query<{ session_id: string }>(
      `with target as (
          select edge_id, session_id from usage_sessions
            where (edge_id, session_id) in (select * from unnest($1::text[], $2::text[]))
              and closed_at is null
            order by edge_id, session_id
            for update skip locked)
        update usage_sessions s set
            closed_at = greatest(s.opened_at, coalesce(s.last_seen_at, s.opened_at)),
            close_reason = $3
          from target
          where s.edge_id = target.edge_id and s.session_id = target.session_id and s.closed_at is null
          returning s.session_id`,
      [lost.map((r) => r.edge_id), lost.map((r) => r.session_id), EDGE_LOST],
    );
    return rows.length;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}

/** Starts sweeping every `intervalMs` until `stop()`. */
export function startSessionSweeper(options: SessionSweeperOptions): SessionSweeper {
  const sweeper = new Sweeper(options);
  sweeper.start();
  return sweeper;
}
