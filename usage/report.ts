/**
 * The monthly exchange usage report (DESIGN rule 7) as data: who counts as a subscriber of each
 * product, per the product's unit (user or device) and basis (entitled or accessed), and what
 * each one costs under the fee schedule in force. Pure: the same ledger gives the same report.
 *
 * Applications' use (tokens issued `non_display`) is counted under the category `non_display`,
 * on the same unit and basis, at the schedule's non-display fee. Its row, and its fee in the
 * header, appear only for a product with non-display subscribers in the month: a month without
 * any gives the same bytes as before non-display use was counted.
 */
import {
  CATEGORIES,
  type Catalog,
  type Category,
  type Fee,
  formatMicros,
  type Micros,
  type Product,
  type ReportCategory,
} from '../config/index.js';
import { DomainError } from '../platform/errors.js';
import type { UsageMonth } from './month.js';
import { compareText, type DeviceUsage, firstRealtime, lastRealtime, type MonthlyUsage } from './monthly.js';

export type FeeText =
  | { type: 'monthly'; amount: string }
  | { type: 'per_query'; perQuery: string; cap: string };

/** The fee schedule a product is reported under, as the report header shows it. */
export interface ScheduleHeader {
  product: string;
  unit: Product['unit'];
  basis: Product['basis'];
  /** `YYYY-MM-DD`, as written in the catalog. */
  effectiveFrom: string;
  source: string;
  /** Both categories of persons; `non_display` only when the product has non-display subscribers. */
  fees: Record<Category, FeeText> & { non_display?: FeeText };
}

export interface SummaryRow {
  product: string;
  category: ReportCategory;
  subscribers: number;
  devices: number;
  /** Real-time snapshots (REST queries) of the counted subscribers. */
  queries: number;
  /** Dollars with six decimals. */
  fee: string;
}

/** One counted subscriber: a user, or for `device` products one device of a user. */
export interface DetailRow {
  product: string;
  category: ReportCategory;
  user: string;
  /** The device, for `device` products; null for `user` products, and for an entitled user never seen on any device. */
  device: string | null;
  basis: Product['basis'];
  entitled: boolean;
  accessed: boolean;
  /** First and last real-time access, ISO-8601 UTC; null when there was none. */
  firstAccess: string | null;
  lastAccess: string | null;
  devices: number;
  queries: number;
  fee: string;
}

export interface UsageReport {
  month: string;
  catalogVersion: string;
  feeSchedules: ScheduleHeader[];
  rows: SummaryRow[];
  details?: DetailRow[];
}

/** A month the report cannot be built for: malformed, no fee schedule in force, or a fee overflowing. */
export class ReportError extends DomainError {
  override name = 'ReportError';

  constructor(message: string) {
    super('unprocessable', 'report_unavailable', message);
  }
}

interface Subscriber {
  usage: MonthlyUsage;
  device: string | null;
  devices: DeviceUsage[];
}

function feeText(fee: Fee): FeeText {
  return fee.type === 'monthly'
    ? { type: 'monthly', amount: formatMicros(fee.amount) }
    : { type: 'per_query', perQuery: formatMicros(fee.perQuery), cap: formatMicros(fee.cap) };
}

function feeFor(fee: Fee, queries: number): Micros {
  if (fee.type === 'monthly') return fee.amount;
  const micros = queries * fee.perQuery;
  if (!Number.isSafeInteger(micros)) throw new ReportError(`per-query fee overflows: ${queries} queries`);
  return Math.min(micros, fee.cap);
}

function accessed(device: DeviceUsage): boolean {
  return device.firstRealtimeAt !== null;
}

/**
 * The subscribers a (user, product) month contributes. On the `entitled` basis a user counts if
 * real time was open to them or they received it anyway (the ledger outranks the grant history:
 * never under-report); on `accessed`, only if they received it. For `device` products each device
 * counts on the same basis, and an entitled user never seen on any device still counts as one.
 */
function subscribersOf(product: Product, usage: MonthlyUsage): Subscriber[] {
  const counted = product.basis === 'entitled' ? usage.entitled || usage.accessed : usage.accessed;
  if (!counted) return [];
  const devices = product.basis === 'entitled' ? usage.devices : usage.devices.filter(accessed);
  if (product.unit === 'user') return [{ usage, device: null, devices }];
  if (devices.length === 0) return [{ usage, device: null, devices }];
  return devices.map((device) => ({ usage, device: device.deviceId, devices: [device] }));
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

/**
 * Builds the report for `month` from its monthly ledger. Rows cover every catalog product and
 * both categories, zeros included, so a missing row never hides a subscriber; products and
 * categories in code-point order, details by product, category, user, device.
 */
export function buildUsageReport(
  catalog: Catalog,
  month: UsageMonth,
  usage: readonly MonthlyUsage[],
  options: { detail: boolean },
): UsageReport {
  const products = [...catalog.products.values()].sort((a, b) => compareText(a.id, b.id));
  const feeSchedules: ScheduleHeader[] = [];
  const rows: SummaryRow[] = [];
  const details: DetailRow[] = [];

  for (const product of products) {
    // Exchanges change fees from the first of a month: the schedule in force as the month opens
    // applies to all of it.
    const schedule = catalog.scheduleAt(product.id, month.start);
    if (!schedule) {
      throw new ReportError(
        `catalog ${catalog.version} has no fee schedule for ${product.id} in force on ${month.firstDay}`,
      );
    }
    const header: ScheduleHeader = {
      product: product.id,
      unit: product.unit,
      basis: product.basis,
      effectiveFrom: schedule.effectiveDate,
      source: schedule.source,
      fees: {
        professional: feeText(schedule.fees.professional),
        non_professional: feeText(schedule.fees.non_professional),
      },
    };
    feeSchedules.push(header);

    type Total = { subscribers: number; devices: number; queries: number; fee: Micros };
    const totals = new Map<ReportCategory, Total>(
      CATEGORIES.map((category) => [category, { subscribers: 0, devices: 0, queries: 0, fee: 0 }]),
    );
    const productDetails: DetailRow[] = [];
    for (const monthly of usage) {
      if (monthly.product !== product.id) continue;
      for (const subscriber of subscribersOf(product, monthly)) {
        const queries = subscriber.devices.reduce((sum, d) => sum + d.realtimeQueries, 0);
        const fee = feeFor(schedule.fees[monthly.category], queries);
        let total = totals.get(monthly.category);
        if (!total) {
          total = { subscribers: 0, devices: 0, queries: 0, fee: 0 };
          totals.set(monthly.category, total);
        }
        total.subscribers++;
        total.devices += subscriber.devices.length;
        total.queries += queries;
        total.fee += fee;
        if (options.detail) {
          productDetails.push({
            product: product.id,
            category: monthly.category,
            user: monthly.userId,
            device: subscriber.device,
            basis: product.basis,
            entitled: monthly.entitled,
            accessed: subscriber.devices.some(accessed),
            firstAccess: iso(firstRealtime(subscriber.devices)),
            lastAccess: iso(lastRealtime(subscriber.devices)),
            devices: subscriber.devices.length,
            queries,
            fee: formatMicros(fee),
          });
        }
      }
    }
    if (totals.has('non_display')) header.fees.non_display = feeText(schedule.fees.non_display);
    for (const category of [...totals.keys()].sort(compareText)) {
      const total = totals.get(category)!;
      rows.push({
        product: product.id,
        category,
        subscribers: total.subscribers,
        devices: total.devices,
        queries: total.queries,
        fee: formatMicros(total.fee),
      });
    }
    productDetails.sort(
      (a, b) =>
        compareText(a.category, b.category) ||
        compareText(a.user, b.user) ||
        compareText(a.device ?? '', b.device ?? ''),
    );
    details.push(...productDetails);
  }

  const report: UsageReport = { month: month.month, catalogVersion: catalog.version, feeSchedules, rows };
  if (options.detail) report.details = details;
  return report;
}
