/**
 * Reconciliation for finance: per user × product for a month, what the ledger says is billable,
 * what the outbox sent to Stripe, what Stripe has aggregated, and what is owed to the exchange —
 * with every disagreement named. Money leaves as fixed six-decimal dollars, never floats.
 */
import type { Catalog, Category, Micros } from '../config/index.js';
import { formatMicros } from '../config/index.js';
import { csvRecord } from '../platform/csv.js';
import type { Db } from '../platform/db/index.js';
import { type Billable, billableUsage, requireMonth } from './close.js';
import { MICROS_PER_UNIT } from './identifier.js';
import type { OutboxStatus } from './outbox.js';
import type { Prices } from './prices.js';
import type { PaymentProvider } from './provider.js';

/**
 * - `not_sent`: billable per the ledger, but no outbox row (the month is not closed, or the
 *   ledger learned of the subscriber after the close);
 * - `pending`: in the outbox, not yet accepted by Stripe;
 * - `send_failed`: dead: Stripe refused it, or an attempt of unknown outcome outlived Stripe's dedupe;
 * - `too_old`: dead: older than the 35 days Stripe accepts meter events for;
 * - `ledger_changed`: the outbox amount differs from what the ledger says today;
 * - `amount_differs`: Stripe's total differs from what was sent;
 * - `missing_at_stripe`: sent, but Stripe has nothing for it;
 * - `unknown_at_stripe`: Stripe has usage the outbox never sent;
 * - `no_customer`: billable but the user has no Stripe customer to check against.
 */
export type MismatchReason =
  | 'not_sent'
  | 'pending'
  | 'send_failed'
  | 'too_old'
  | 'ledger_changed'
  | 'amount_differs'
  | 'missing_at_stripe'
  | 'unknown_at_stripe'
  | 'no_customer';

export interface Mismatch {
  reason: MismatchReason;
  detail: string;
}

export interface ReconciliationRow {
  user: string;
  product: string;
  category: Category | null;
  /** Owed to the exchange for this subscriber, per the usage report. */
  exchangeFee: string;
  /** What the ledger and prices say the user owes. */
  billable: string;
  outboxStatus: OutboxStatus | null;
  identifier: string | null;
  /** Accepted by Stripe per the outbox (0 unless `sent`). */
  sent: string;
  /** Stripe's aggregate for the customer's meter over the month; null when Stripe was not asked. */
  stripe: string | null;
  lastError: string | null;
  mismatches: Mismatch[];
}

export interface Reconciliation {
  month: string;
  pricesVersion: string;
  catalogVersion: string;
  /** Whether Stripe was consulted (a provider is configured). */
  stripeChecked: boolean;
  /**
   * Whether billing has closed the month. Until it has, nothing is sent to Stripe by design, so
   * what the ledger makes billable is not a `not_sent` mismatch yet.
   */
  closed: boolean;
  totals: { exchangeFee: string; billable: string; sent: string; stripe: string | null; mismatches: number };
  rows: ReconciliationRow[];
}

interface OutboxRow {
  user_id: string;
  product: string;
  category: Category;
  identifier: string;
  event_name: string;
  amount_micros: number;
  value: number;
  status: OutboxStatus;
  last_error_code: string | null;
  last_error: string | null;
}

interface Pair {
  user: string;
  product: string;
  billable?: Billable;
  outbox?: OutboxRow;
  customer?: string;
  stripeUnits?: number;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const unitsToMicros = (units: number): Micros => units * MICROS_PER_UNIT;

function mismatchesOf(pair: Pair, stripeChecked: boolean, closed: boolean): Mismatch[] {
  const found: Mismatch[] = [];
  const { billable, outbox } = pair;
  const billableUnits = billable?.value ?? 0;
  if (!outbox) {
    if (billableUnits > 0 && closed)
      found.push({ reason: 'not_sent', detail: `${billableUnits} units billable, no outbox row` });
  } else {
    if (outbox.value !== billableUnits) {
      found.push({
        reason: 'ledger_changed',
        detail: `outbox holds ${outbox.value} units, the ledger now says ${billableUnits}`,
      });
    }
    if (outbox.status === 'pending' || outbox.status === 'sending') {
      found.push({ reason: 'pending', detail: outbox.last_error ?? 'not yet sent' });
    } else if (outbox.status === 'dead') {
      found.push({
        reason: outbox.last_error_code === 'too_old' ? 'too_old' : 'send_failed',
        detail: outbox.last_error ?? (outbox.last_error_code as string),
      });
    }
  }
  if (!stripeChecked) return found;
  const sentUnits = outbox?.status === 'sent' ? outbox.value : 0;
  if (pair.customer === undefined) {
    if (sentUnits > 0 || billableUnits > 0)
      found.push({ reason: 'no_customer', detail: 'the user has no Stripe customer' });
    return found;
  }
  const stripeUnits = pair.stripeUnits ?? 0;
  if (sentUnits > 0 && stripeUnits === 0) {
    found.push({ reason: 'missing_at_stripe', detail: `${sentUnits} units sent, Stripe has none` });
  } else if (sentUnits === 0 && stripeUnits > 0) {
    found.push({
      reason: 'unknown_at_stripe',
      detail: `Stripe has ${stripeUnits} units the outbox never sent`,
    });
  } else if (sentUnits !== stripeUnits) {
    found.push({ reason: 'amount_differs', detail: `${sentUnits} units sent, Stripe has ${stripeUnits}` });
  }
  return found;
}

export interface ReconcileOptions {
  catalog: Catalog;
  prices: Prices;
  month: string;
  /** Absent: Stripe is not consulted and its column is null. */
  provider?: PaymentProvider;
}

/**
 * Reconciles `month`. Stripe is asked once per (customer, product meter): every customer mdhub
 * created, so usage Stripe holds that mdhub never sent shows up too. Stripe's summaries are
 * eventually consistent: a charge sent minutes ago may show as `missing_at_stripe` until they catch up.
 */
export async function reconcile(db: Db, options: ReconcileOptions): Promise<Reconciliation> {
  const month = requireMonth(options.month);
  const { provider, prices } = options;
  const pairs = new Map<string, Pair>();
  const pair = (user: string, product: string): Pair => {
    const key = `${user}\u0000${product}`;
    let found = pairs.get(key);
    if (!found) {
      found = { user, product };
      pairs.set(key, found);
    }
    return found;
  };

  for (const billable of await billableUsage(db, options.catalog, prices, month)) {
    pair(billable.userId, billable.product).billable = billable;
  }
  const outbox = await db.query<OutboxRow>(
    `select user_id, product, category, identifier, event_name, amount_micros, value, status, last_error_code, last_error
      from billing_outbox where month = $1`,
    [month.month],
  );
  for (const row of outbox.rows) pair(row.user_id, row.product).outbox = row;

  if (provider) {
    const customers = await db.query<{ user_id: string; stripe_customer_id: string }>(
      'select user_id, stripe_customer_id from billing_customers order by user_id',
    );
    const customerByUser = new Map(customers.rows.map((c) => [c.user_id, c.stripe_customer_id]));
    for (const customer of customers.rows) {
      for (const pricing of [...prices.products.values()].sort((a, b) => compare(a.product, b.product))) {
        const units = await provider.meterTotal({
          eventName: pricing.meterEventName,
          customerId: customer.stripe_customer_id,
          start: month.start,
          end: month.end,
        });
        const known = pairs.get(`${customer.user_id}\u0000${pricing.product}`);
        if (units === 0 && !known) continue;
        const target = known ?? pair(customer.user_id, pricing.product);
        target.stripeUnits = units;
      }
    }
    for (const target of pairs.values()) target.customer = customerByUser.get(target.user);
  }

  const stripeChecked = provider !== undefined;
  const closed =
    (await db.query('select 1 from billing_months where month = $1', [month.month])).rows.length > 0;
  const totals = { exchangeFee: 0, billable: 0, sent: 0, stripe: 0, mismatches: 0 };
  const rows: ReconciliationRow[] = [...pairs.values()]
    .sort((a, b) => compare(a.user, b.user) || compare(a.product, b.product))
    .map((p) => {
      const sent = p.outbox?.status === 'sent' ? unitsToMicros(p.outbox.value) : 0;
      const stripe = stripeChecked ? unitsToMicros(p.stripeUnits ?? 0) : null;
      const mismatches = mismatchesOf(p, stripeChecked, closed);
      totals.exchangeFee += p.billable?.exchangeFee ?? 0;
      totals.billable += p.billable?.amount ?? 0;
      totals.sent += sent;
      totals.stripe += stripe ?? 0;
      totals.mismatches += mismatches.length;
      return {
        user: p.user,
        product: p.product,
        category: p.billable?.category ?? p.outbox?.category ?? null,
        exchangeFee: formatMicros(p.billable?.exchangeFee ?? 0),
        billable: formatMicros(p.billable?.amount ?? 0),
        outboxStatus: p.outbox?.status ?? null,
        identifier: p.outbox?.identifier ?? null,
        sent: formatMicros(sent),
        stripe: stripe === null ? null : formatMicros(stripe),
        lastError: p.outbox?.last_error ?? null,
        mismatches,
      };
    });
  return {
    month: month.month,
    pricesVersion: prices.version,
    catalogVersion: options.catalog.version,
    stripeChecked,
    closed,
    totals: {
      exchangeFee: formatMicros(totals.exchangeFee),
      billable: formatMicros(totals.billable),
      sent: formatMicros(totals.sent),
      stripe: stripeChecked ? formatMicros(totals.stripe) : null,
      mismatches: totals.mismatches,
    },
    rows,
  };
}

const CSV_COLUMNS = [
  'month',
  'user',
  'product',
  'category',
  'exchange_fee',
  'billable',
  'outbox_status',
  'sent',
  'stripe',
  'identifier',
  'mismatches',
  'detail',
] as const;

/** One line per row, then a `TOTAL` line; mismatch reasons joined with `;`. */
export function reconciliationCsv(r: Reconciliation): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of r.rows) {
    lines.push(
      csvRecord([
        r.month,
        row.user,
        row.product,
        row.category ?? '',
        row.exchangeFee,
        row.billable,
        row.outboxStatus ?? '',
        row.sent,
        row.stripe ?? '',
        row.identifier ?? '',
        row.mismatches.map((m) => m.reason).join(';'),
        row.mismatches.map((m) => m.detail).join('; '),
      ]),
    );
  }
  lines.push(
    csvRecord([
      r.month,
      'TOTAL',
      '',
      '',
      r.totals.exchangeFee,
      r.totals.billable,
      '',
      r.totals.sent,
      r.totals.stripe ?? '',
      '',
      String(r.totals.mismatches),
      '',
    ]),
  );
  return `${lines.join('\n')}\n`;
}

export function reconciliationJson(r: Reconciliation): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
