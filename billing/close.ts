/**
 * Closing a billing month: charges derived from the usage ledger and the prices, written to the
 * outbox in the same transaction that reads the ledger.
 *
 * Why a month close and not a charge per meter batch: what a user owes for a month is only known
 * once the month is over — the category is professional if professional at any instant, the
 * `entitled` basis looks at the whole month, per-query fees are capped per month — and a meter
 * event cannot be taken back once Stripe has billed it. So the close reads the ledger exactly as
 * the exchange usage report does (`readMonthlyUsage` + `buildUsageReport`), turns each
 * subscriber's exchange fee into a charge, and inserts one outbox row per (user, product, month)
 * with the audit record, all in one transaction: a crash leaves either all of it or none, and
 * running it again inserts only what is missing (a subscriber the ledger learned of late).
 */
import { appendAudit } from '../audit/index.js';
import { type Catalog, type Category, type Micros, parseMicros } from '../config/index.js';
import type { Actor } from '../platform/actor.js';
import type { Db, Queryable } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import { buildUsageReport, parseUsageMonth, readMonthlyUsage } from '../usage/index.js';
import { chargeIdentifier, MICROS_PER_UNIT } from './identifier.js';
import { type BillingMonth, parseBillingMonth } from './month.js';
import { applyPrice, divideHalfUp, type Prices, priceAt } from './prices.js';

/** One (user, product) of a month as billing sees it: what the exchange charges, and what the user pays. */
export interface Billable {
  userId: string;
  product: string;
  category: Category;
  exchangeFee: Micros;
  amount: Micros;
  /** Meter units (cents), rounded half up from `amount`; 0 means nothing is sent. */
  value: number;
  rule: string;
  eventName: string;
}

/** A month billing cannot answer for: malformed, not over yet, or without a price in force. */
export class BillingError extends DomainError {
  override name = 'BillingError';

  constructor(message: string) {
    super('unprocessable', 'billing_unavailable', message);
  }
}

export const BILLING_ACTOR: Actor = { type: 'system', id: 'billing' };

export function requireMonth(text: string): BillingMonth {
  const month = parseBillingMonth(text);
  if (!month) throw new BillingError(`month must look like YYYY-MM, got ${JSON.stringify(text)}`);
  return month;
}

/**
 * What the ledger says each subscriber of `month` owes, sorted by user then product. Read through
 * `q` so that the close can do it inside its own transaction. Device-counted products list one
 * report row per device: their fees add up to the user's.
 */
export async function billableUsage(
  q: Queryable,
  catalog: Catalog,
  prices: Prices,
  month: BillingMonth,
): Promise<Billable[]> {
  const bounds = parseUsageMonth(month.month);
  if (!bounds) throw new BillingError(`month must look like YYYY-MM, got ${JSON.stringify(month.month)}`);
  const usage = await readMonthlyUsage(q, catalog, bounds);
  const report = buildUsageReport(catalog, bounds, usage, { detail: true });
  const byPair = new Map<string, { userId: string; product: string; category: Category; fee: Micros }>();
  for (const row of report.details ?? []) {
    const key = `${row.user}\u0000${row.product}`;
    // An application's (non-display) use is no natural person's: it is priced as professional.
    const category: Category = row.category === 'non_display' ? 'professional' : row.category;
    const pair = byPair.get(key) ?? { userId: row.user, product: row.product, category, fee: 0 };
    pair.fee += parseMicros(row.fee);
    if (category === 'professional') pair.category = 'professional';
    byPair.set(key, pair);
  }
  const billables: Billable[] = [];
  for (const pair of byPair.values()) {
    const pricing = prices.products.get(pair.product);
    // Prices are validated to cover the catalog, and prices in force as the month opens apply to all of it.
    const price = priceAt(prices, pair.product, pair.category, month.start);
    if (!pricing || !price) {
      throw new BillingError(
        `prices ${prices.version} have no price for ${pair.product} in force on ${month.month}-01`,
      );
    }
    const charge = applyPrice(price, pair.fee);
    billables.push({
      userId: pair.userId,
      product: pair.product,
      category: pair.category,
      exchangeFee: pair.fee,
      amount: charge.amount,
      value: divideHalfUp(charge.amount, MICROS_PER_UNIT),
      rule: charge.rule,
      eventName: pricing.meterEventName,
    });
  }
  return billables.sort((a, b) => compare(a.userId, b.userId) || compare(a.product, b.product));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface CloseOptions {
  catalog: Catalog;
  prices: Prices;
  /** `YYYY-MM`; must be over. */
  month: string;
  /** Epoch ms: when the close happens. */
  at: number;
  actor?: Actor;
}

export interface CloseResult {
  month: string;
  /** Outbox rows this call inserted. */
  inserted: number;
  /** Charges already in the outbox from an earlier close. */
  existing: number;
  /** Subscribers whose charge is zero (free, or a zero fee): nothing to send. */
  free: number;
  /** Sum of the charges inserted, micro-dollars. */
  amount: Micros;
}

/**
 * Derives `month`'s charges from the ledger and puts each in the outbox, once. Safe to run any
 * number of times, from any number of processes: rows are unique per (user, product, month), and
 * an advisory lock keeps two closes of one month from interleaving.
 */
export async function closeBillingMonth(db: Db, options: CloseOptions): Promise<CloseResult> {
  const month = requireMonth(options.month);
  if (options.at < month.end)
    throw new BillingError(`month ${month.month} is not over yet; it cannot be closed`);
  // Stripe files a meter event under its timestamp: the last second of the month keeps each
  // month's charges inside that month's summaries.
  const eventAt = month.end - 1000;
  return db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock(hashtext('mdhub.billing_close'), hashtext($1))", [
      month.month,
    ]);
    const billables = await billableUsage(tx, options.catalog, options.prices, month);
    const result: CloseResult = { month: month.month, inserted: 0, existing: 0, free: 0, amount: 0 };
    for (const b of billables) {
      if (b.value === 0) {
        result.free++;
        continue;
      }
      const { rowCount } = await tx.query(
        `insert into billing_outbox (user_id, product, month, category, identifier, event_name, exchange_fee_micros,
            amount_micros, value, price_rule, event_at, next_attempt_at, created_at)
          values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
          on conflict (user_id, product, month) do nothing`,
        [
          b.userId,
          b.product,
          month.month,
          b.category,
          chargeIdentifier(month.month, b.userId, b.product),
          b.eventName,
          b.exchangeFee,
          b.amount,
          b.value,
          b.rule,
          eventAt,
          options.at,
        ],
      );
      if (rowCount === 1) {
        result.inserted++;
        result.amount += b.amount;
      } else {
        result.existing++;
      }
    }
    await tx.query(
      `insert into billing_months (month, closed_at, charges, amount_micros) values ($1, $2, $3, $4)
        on conflict (month) do update set charges = billing_months.charges + excluded.charges,
          amount_micros = billing_months.amount_micros + excluded.amount_micros`,
      [month.month, options.at, result.inserted, result.amount],
    );
    await appendAudit(tx, {
      actor: options.actor ?? BILLING_ACTOR,
      action: 'billing.month_close',
      subject: `billing:month:${month.month}`,
      details: {
        month: month.month,
        pricesVersion: options.prices.version,
        catalogVersion: options.catalog.version,
        inserted: result.inserted,
        existing: result.existing,
        free: result.free,
        amountMicros: result.amount,
      },
      at: options.at,
    });
    return result;
  });
}
