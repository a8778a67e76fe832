import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  type Catalog,
  type Category,
  ConfigError,
  formatMicros,
  type Micros,
  moneySchema,
  packageRoot,
} from '../config/index.js';

/**
 * What a user pays for one product for one month, given the exchange fee the usage report says
 * that user costs: nothing, or the exchange fee passed through plus an optional markup.
 */
export type Price =
  | { type: 'free' }
  | {
      type: 'pass_through';
      /** Added to every charge of this kind, micro-dollars. */
      markupFixed: Micros;
      /** Added as a share of the exchange fee, basis points (1 000 = 10 %). */
      markupBps: number;
    };

export interface PriceSchedule {
  /** First UTC instant (epoch ms) the schedule applies to; it holds until the next one starts. */
  effectiveFrom: number;
  effectiveDate: string;
  prices: Record<Category, Price>;
}

export interface ProductPricing {
  product: string;
  /** The Stripe meter's `event_name` this product's charges are sent as. */
  meterEventName: string;
  /** Sorted by `effectiveFrom`, oldest first. */
  schedules: PriceSchedule[];
}

export interface Prices {
  version: string;
  products: ReadonlyMap<string, ProductPricing>;
}

/** One charge, as computed from an exchange fee and the price in force. */
export interface Charge {
  amount: Micros;
  /** The rule applied, written as text on the outbox row, e.g. `pass_through+10.00%+0.500000`. */
  rule: string;
}

const priceSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('free') }).strict(),
  z
    .object({
      type: z.literal('pass_through'),
      markupFixed: moneySchema.default(0),
      markupBps: z.number().int().min(0).max(100_000).default(0),
    })
    .strict(),
]);

const pricesSchema = z
  .object({
    version: z.string().min(1),
    products: z
      .array(
        z
          .object({
            id: z.string().min(1),
            // Stripe limits event names to 100 characters.
            meterEventName: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, {
              message: 'must be a Stripe meter event name (letters, digits, _ . : -, at most 100)',
            }),
            prices: z
              .array(
                z
                  .object({
                    effectiveFrom: z
                      .string()
                      .regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date YYYY-MM-DD' }),
                    professional: priceSchema,
                    non_professional: priceSchema,
                  })
                  .strict(),
              )
              .min(1),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/**
 * Validates price data (parsed JSON) against the catalog: every catalog product must be priced,
 * so no product's usage goes unbilled because someone forgot it, and no price names a product
 * the catalog does not have.
 */
export function parsePrices(data: unknown, catalog: Catalog, origin = 'prices'): Prices {
  const result = pricesSchema.safeParse(data);
  const problems: string[] = [];
  if (!result.success) {
    for (const issue of result.error.issues)
      problems.push(`${issue.path.join('.') || '(root)'} ${issue.message}`);
    throw new ConfigError(`invalid prices ${origin}: ${problems.join('; ')}`);
  }
  const products = new Map<string, ProductPricing>();
  const eventNames = new Set<string>();
  result.data.products.forEach((raw, index) => {
    if (!catalog.products.has(raw.id)) problems.push(`products.${index}.id ${raw.id} is not in the catalog`);
    if (products.has(raw.id)) problems.push(`products.${index}.id ${raw.id} is a duplicate`);
    if (eventNames.has(raw.meterEventName))
      problems.push(`products.${index}.meterEventName ${raw.meterEventName} is used by two products`);
    eventNames.add(raw.meterEventName);
    const schedules: PriceSchedule[] = [];
    for (const entry of raw.prices) {
      const effectiveFrom = Date.parse(`${entry.effectiveFrom}T00:00:00Z`);
      if (Number.isNaN(effectiveFrom)) {
        problems.push(`products.${index} ${entry.effectiveFrom} is not a calendar date`);
        continue;
      }
      if (schedules.some((s) => s.effectiveFrom === effectiveFrom))
        problems.push(`products.${index}.prices has two schedules on ${entry.effectiveFrom}`);
      schedules.push({
        effectiveFrom,
        effectiveDate: entry.effectiveFrom,
        prices: { professional: entry.professional, non_professional: entry.non_professional },
      });
    }
    schedules.sort((a, b) => a.effectiveFrom - b.effectiveFrom);
    products.set(raw.id, { product: raw.id, meterEventName: raw.meterEventName, schedules });
  });
  for (const id of catalog.products.keys())
    if (!products.has(id)) problems.push(`product ${id} has no price`);
  if (problems.length > 0) throw new ConfigError(`invalid prices ${origin}: ${problems.join('; ')}`);
  return { version: result.data.version, products };
}

export const DEFAULT_PRICES_PATH = join(packageRoot(), 'config', 'prices.default.json');

/** Loads the prices from `path` (a deployment's own file, `MDHUB_PRICES`) or the default one. */
export function loadPrices(catalog: Catalog, path: string = DEFAULT_PRICES_PATH): Prices {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read prices ${path}: ${(error as Error).message}`);
  }
  return parsePrices(data, catalog, path);
}

/** The price in force at `at` (epoch ms); undefined before the product's first schedule. */
export function priceAt(prices: Prices, product: string, category: Category, at: number): Price | undefined {
  let found: PriceSchedule | undefined;
  for (const schedule of prices.products.get(product)?.schedules ?? [])
    if (schedule.effectiveFrom <= at) found = schedule;
  return found?.prices[category];
}

/** `numerator / denominator` rounded half up, for non-negative integers. */
export function divideHalfUp(numerator: number, denominator: number): number {
  const quotient = Math.floor(numerator / denominator);
  const remainder = numerator - quotient * denominator;
  return remainder * 2 >= denominator ? quotient + 1 : quotient;
}

/** What `price` makes of an exchange fee. */
export function applyPrice(price: Price, exchangeFee: Micros): Charge {
  if (price.type === 'free') return { amount: 0, rule: 'free' };
  const share = divideHalfUp(exchangeFee * price.markupBps, 10_000);
  const amount = exchangeFee + share + price.markupFixed;
  if (!Number.isSafeInteger(amount))
    throw new RangeError(`charge of ${amount} micro-dollars is out of range`);
  const percent = `${Math.floor(price.markupBps / 100)}.${String(price.markupBps % 100).padStart(2, '0')}%`;
  return { amount, rule: `pass_through+${percent}+${formatMicros(price.markupFixed)}` };
}
