import type { Catalog } from '../config/index.js';
import { ChangeRelay } from '../entitlements/index.js';
import type { Bus } from '../platform/bus/index.js';
import type { Db } from '../platform/db/index.js';
import type { Logger } from '../platform/logger.js';
import { silentLogger } from '../platform/logger.js';
import { closeBillingMonth } from './close.js';
import { ensureCustomer } from './customers.js';
import { applyDueHolds } from './holds.js';
import type { BillingMetrics } from './metrics.js';
import { monthOf, previousMonth } from './month.js';
import { type ClaimedCharge, claimDue, outboxCounts, recordDead, recordRetry, recordSent } from './outbox.js';
import type { Prices } from './prices.js';
import { PaymentError, type PaymentProvider } from './provider.js';

export interface BillingWorkerOptions {
  db: Db;
  bus: Bus;
  /** The process's change relay, flushed after holds change delinquency; default one on `bus.control`. */
  changes?: ChangeRelay;
  catalog: Catalog;
  prices: Prices;
  /** Absent when Stripe is not configured: months are still closed into the outbox, nothing is sent. */
  provider?: PaymentProvider;
  metrics?: BillingMetrics;
  logger?: Logger;
  /** Wall clock, epoch ms (default `Date.now`). */
  now?: () => number;
  /** In [0, 1) (default `Math.random`): spreads retries so workers do not stampede Stripe together. */
  random?: () => number;
  /** Pause between passes when there is nothing due, ms (default 5 000). */
  pollMs?: number;
  /** Charges claimed per pass (default 50). */
  batchSize?: number;
  /** How long a claimed charge is this worker's before others assume it crashed, ms (default 60 000). */
  leaseMs?: number;
  /** First retry delay, doubled per attempt up to `backoffMaxMs` (defaults 1 000 and 3 600 000). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** How long Stripe is trusted to deduplicate a resend, ms (default 23 h: Stripe promises 24). */
  dedupeWindowMs?: number;
  /** How long after a month ends it is closed, leaving late usage events time to arrive, ms (default 6 h). */
  closeDelayMs?: number;
}

/** What one pass did. */
export interface PassResult {
  closed?: string;
  sent: number;
  retried: number;
  dead: number;
  delinquent: string[];
}

/**
 * The billing worker: closes last month once it has settled, applies billing holds whose grace
 * is over, and sends due outbox rows to Stripe with exponential backoff. Any number may run:
 * rows are claimed with SKIP LOCKED and month closes are idempotent.
 */
export class BillingWorker {
  readonly #o: BillingWorkerOptions;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #changes: ChangeRelay;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: BillingWorkerOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#changes =
      options.changes ??
      new ChangeRelay({ db: options.db, control: options.bus.control, logger: this.#logger });
  }

  start(): void {
    const loop = async (): Promise<void> => {
      let busy = false;
      try {
        const pass = await this.runOnce();
        busy = pass.sent + pass.retried + pass.dead > 0;
      } catch (err) {
        this.#logger.error({ err }, 'billing worker pass failed');
      }
      if (!this.#stopped) this.#timer = setTimeout(tick, busy ? 0 : (this.#o.pollMs ?? 5_000));
    };
    const tick = () => {
      this.#running = loop();
    };
    tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** One pass; tests drive the worker with it and a clock of their own. */
  async runOnce(): Promise<PassResult> {
    const now = this.#now();
    const result: PassResult = { sent: 0, retried: 0, dead: 0, delinquent: [] };
    result.closed = await this.#closeSettledMonth(now);
    result.delinquent = await applyDueHolds(this.#o.db, now);
    if (result.delinquent.length > 0) await this.#changes.flush();
    if (this.#o.provider) await this.#send(this.#o.provider, now, result);
    if (this.#o.metrics) {
      for (const [status, n] of Object.entries(await outboxCounts(this.#o.db)))
        this.#o.metrics.outbox.set({ status }, n);
    }
    return result;
  }

  async #closeSettledMonth(now: number): Promise<string | undefined> {
    const month = previousMonth(monthOf(now));
    if (now < month.end + (this.#o.closeDelayMs ?? 6 * 3_600_000)) return undefined;
    const { rows } = await this.#o.db.query('select 1 from billing_months where month = $1', [month.month]);
    if (rows.length > 0) return undefined;
    const closed = await closeBillingMonth(this.#o.db, {
      catalog: this.#o.catalog,
      prices: this.#o.prices,
      month: month.month,
      at: now,
    });
    this.#logger.info({ ...closed }, 'billing month closed');
    return month.month;
  }

  async #send(provider: PaymentProvider, now: number, result: PassResult): Promise<void> {
    const { db, metrics } = this.#o;
    const claim = await claimDue(db, {
      now,
      limit: this.#o.batchSize ?? 50,
      leaseMs: this.#o.leaseMs ?? 60_000,
      dedupeWindowMs: this.#o.dedupeWindowMs ?? 23 * 3_600_000,
    });
    for (const dead of claim.dead) {
      result.dead++;
      metrics?.attempts.inc({ outcome: 'dead' });
      metrics?.dead.inc({ reason: dead.reason });
      this.#logger.error(
        { outboxId: dead.id, reason: dead.reason },
        'billing charge is dead and needs a person',
      );
    }
    for (const charge of claim.claimed) {
      const outcome = await this.#attempt(provider, charge);
      result[outcome === 'sent' ? 'sent' : outcome === 'dead' ? 'dead' : 'retried']++;
    }
  }

  async #attempt(
    provider: PaymentProvider,
    charge: ClaimedCharge,
  ): Promise<'sent' | 'retry' | 'uncertain' | 'dead'> {
    const { db, metrics } = this.#o;
    let customerId: string;
    try {
      customerId = await ensureCustomer(db, provider, charge.userId, this.#now());
    } catch (error) {
      // The meter event was not sent, so this attempt cannot have billed anything.
      const failure = error instanceof PaymentError ? error : new PaymentError('retry', String(error));
      await recordRetry(db, charge, {
        uncertain: false,
        retryAt: this.#now() + this.#backoff(charge.attempts),
        status: failure.status,
        code: failure.code ?? 'customer_failed',
        message: `creating the Stripe customer failed: ${failure.message}`,
      });
      metrics?.attempts.inc({ outcome: 'retry' });
      return 'retry';
    }
    try {
      await provider.sendMeterEvent({
        eventName: charge.eventName,
        customerId,
        value: charge.value,
        identifier: charge.identifier,
        timestamp: charge.eventAt,
      });
    } catch (error) {
      const failure = error instanceof PaymentError ? error : new PaymentError('uncertain', String(error));
      const answer = { status: failure.status, code: failure.code, message: failure.message };
      if (failure.kind === 'too_old' || failure.kind === 'rejected') {
        await recordDead(db, charge, failure.kind, answer, this.#now());
        metrics?.attempts.inc({ outcome: 'dead' });
        metrics?.dead.inc({ reason: failure.kind });
        this.#logger.error({ identifier: charge.identifier, ...answer }, 'Stripe refused a charge for good');
        return 'dead';
      }
      await recordRetry(db, charge, {
        ...answer,
        uncertain: failure.kind === 'uncertain',
        retryAt: this.#now() + this.#backoff(charge.attempts),
      });
      metrics?.attempts.inc({ outcome: failure.kind });
      this.#logger.warn(
        { identifier: charge.identifier, attempts: charge.attempts, ...answer },
        'meter event failed; will retry',
      );
      return failure.kind;
    }
    await recordSent(db, charge, customerId, this.#now());
    metrics?.attempts.inc({ outcome: 'sent' });
    return 'sent';
  }

  /** Exponential, capped, with jitter over the upper half so the delay never collapses to zero. */
  #backoff(attempts: number): number {
    const base = this.#o.backoffBaseMs ?? 1_000;
    const max = this.#o.backoffMaxMs ?? 3_600_000;
    const delay = Math.min(max, base * 2 ** Math.min(attempts - 1, 30));
    return Math.round(delay * (0.5 + this.#random() / 2));
  }
}
