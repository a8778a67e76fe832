import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './env.js';
import { type Micros, moneySchema } from './money.js';
import { packageRoot } from './paths.js';

export type Category = 'professional' | 'non_professional';
export const CATEGORIES: readonly Category[] = ['professional', 'non_professional'];

/**
 * What a usage report counts a subscriber under: a person's category, or `non_display` for the
 * real-time use of a token issued for an application (DESIGN rule 3), never a display.
 */
export type ReportCategory = Category | 'non_display';

/** The detail fields a licensor may require of every subscriber line of its files. */
export const DETAIL_FIELDS = ['name', 'address'] as const;
export type DetailField = (typeof DETAIL_FIELDS)[number];

/** What one subscriber of one category pays for one product for one month. */
export type Fee = { type: 'monthly'; amount: Micros } | { type: 'per_query'; perQuery: Micros; cap: Micros };

export interface FeeSchedule {
  /** First UTC instant (epoch ms) the schedule applies to; it holds until the next one starts. */
  effectiveFrom: number;
  /** The date as written in the catalog (`YYYY-MM-DD`), shown in report headers. */
  effectiveDate: string;
  source: string;
  /**
   * Per category. `non_display` is optional in the catalog file and defaults to the schedule's
   * professional fee: an application is no natural person, so never non-professional, and when in
   * doubt the larger fee is the one that cannot under-report.
   */
  fees: Record<ReportCategory, Fee>;
}

export interface Product {
  id: string;
  name: string;
  licensor: string;
  /** Polygon's `z`: 1 Tape A, 2 Tape B, 3 Tape C. */
  tape: number;
  delayMs: number;
  /** Whether a user who may not have real time may still have the data delayed. */
  delayedAllowed: boolean;
  unit: 'user' | 'device';
  basis: 'entitled' | 'accessed';
  /** The licensor's own code for this product in its usage files; undefined: none in the catalog. */
  licensorCode: string | undefined;
  /** Sorted by `effectiveFrom`, oldest first. */
  schedules: FeeSchedule[];
}

export interface Licensor {
  id: string;
  name: string;
  agreement: { name: string; version: string };
  /** The detail fields every subscriber line of this licensor's detail file must have; default none. */
  requiredDetailFields: readonly DetailField[];
}

export interface Catalog {
  version: string;
  licensors: ReadonlyMap<string, Licensor>;
  products: ReadonlyMap<string, Product>;
  /** The product whose data is on tape `z`, for routing vendor events. */
  productForTape(tape: number): Product | undefined;
  /** The schedule in force at `at` (epoch ms), or undefined before the first one. */
  scheduleAt(productId: string, at: number): FeeSchedule | undefined;
}

const feeSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('monthly'), amount: moneySchema }).strict(),
  z.object({ type: z.literal('per_query'), perQuery: moneySchema, cap: moneySchema }).strict(),
]);

const dateSchema = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a date YYYY-MM-DD' });

const catalogSchema = z
  .object({
    version: z.string().min(1),
    licensors: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/),
            name: z.string().min(1),
            agreement: z.object({ name: z.string().min(1), version: z.string().min(1) }).strict(),
            requiredDetailFields: z
              .array(z.enum(DETAIL_FIELDS, { error: `must be one of ${DETAIL_FIELDS.join(', ')}` }))
              .default([]),
          })
          .strict(),
      )
      .min(1),
    products: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/, { message: 'must be an upper-case identifier' }),
            name: z.string().min(1),
            licensor: z.string(),
            tape: z.number().int().min(1).max(3),
            delayMs: z.number().int().min(0),
            delayedAllowed: z.boolean(),
            unit: z.enum(['user', 'device']),
            basis: z.enum(['entitled', 'accessed']),
            licensorCode: z
              .string()
              .regex(/^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,31}$/, {
                message:
                  'must be 1 to 32 letters, digits, spaces or . _ / -, starting with a letter or digit',
              })
              .optional(),
            fees: z
              .array(
                z
                  .object({
                    effectiveFrom: dateSchema,
                    source: z.string().default(''),
                    professional: feeSchema,
                    non_professional: feeSchema,
                    non_display: feeSchema.optional(),
                  })
                  .strict(),
              )
              .min(1),
          })
          .strict(),
      )
      .min(1),
  })
  .strict()
  .superRefine((catalog, ctx) => {
    const licensors = new Set(catalog.licensors.map((l) => l.id));
    const ids = new Set<string>();
    const tapes = new Set<number>();
    const codes = new Set<string>();
    catalog.products.forEach((product, index) => {
      if (ids.has(product.id))
        ctx.addIssue({ code: 'custom', path: ['products', index, 'id'], message: 'is a duplicate' });
      ids.add(product.id);
      if (tapes.has(product.tape))
        ctx.addIssue({
          code: 'custom',
          path: ['products', index, 'tape'],
          message: 'is used by two products',
        });
      tapes.add(product.tape);
      if (!licensors.has(product.licensor))
        ctx.addIssue({
          code: 'custom',
          path: ['products', index, 'licensor'],
          message: 'is not a listed licensor',
        });
      if (product.licensorCode !== undefined) {
        // One code per product in a licensor's files, or its summary would merge two products.
        const code = `${product.licensor}\u0000${product.licensorCode}`;
        if (codes.has(code))
          ctx.addIssue({
            code: 'custom',
            path: ['products', index, 'licensorCode'],
            message: `is used by two products of licensor ${product.licensor}`,
          });
        codes.add(code);
      }
      const dates = product.fees.map((f) => f.effectiveFrom);
      if (new Set(dates).size !== dates.length)
        ctx.addIssue({
          code: 'custom',
          path: ['products', index, 'fees'],
          message: 'has two schedules on one date',
        });
    });
  });

function utcDay(date: string): number {
  const at = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(at)) throw new ConfigError(`catalog: ${date} is not a calendar date`);
  return at;
}

/** Validates catalog data (already parsed JSON); `origin` names the file in errors. */
export function parseCatalog(data: unknown, origin = 'catalog'): Catalog {
  const result = catalogSchema.safeParse(data);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.join('.') || '(root)'} ${issue.message}`,
    );
    throw new ConfigError(`invalid catalog ${origin}: ${problems.join('; ')}`);
  }
  const raw = result.data;
  const licensors = new Map<string, Licensor>(raw.licensors.map((l) => [l.id, l]));
  const products = new Map<string, Product>();
  for (const p of raw.products) {
    const schedules = p.fees
      .map((f) => ({
        effectiveFrom: utcDay(f.effectiveFrom),
        effectiveDate: f.effectiveFrom,
        source: f.source,
        fees: {
          professional: f.professional,
          non_professional: f.non_professional,
          non_display: f.non_display ?? f.professional,
        },
      }))
      .sort((a, b) => a.effectiveFrom - b.effectiveFrom);
    products.set(p.id, {
      id: p.id,
      name: p.name,
      licensor: p.licensor,
      tape: p.tape,
      delayMs: p.delayMs,
      delayedAllowed: p.delayedAllowed,
      unit: p.unit,
      basis: p.basis,
      licensorCode: p.licensorCode,
      schedules,
    });
  }
  const byTape = new Map([...products.values()].map((p) => [p.tape, p]));
  return {
    version: raw.version,
    licensors,
    products,
    productForTape: (tape) => byTape.get(tape),
    scheduleAt(productId, at) {
      const schedules = products.get(productId)?.schedules ?? [];
      let found: FeeSchedule | undefined;
      for (const schedule of schedules) if (schedule.effectiveFrom <= at) found = schedule;
      return found;
    },
  };
}

export const DEFAULT_CATALOG_PATH = join(packageRoot(), 'config', 'catalog.default.json');

/**
 * Loads the catalog from `path` (a deployment's own file, `MDHUB_CATALOG`) or the default one.
 * `delayOverrideMs` (`MDHUB_DELAY_MS`) replaces every product's delay.
 */
export function loadCatalog(path: string = DEFAULT_CATALOG_PATH, delayOverrideMs?: number): Catalog {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read catalog ${path}: ${(error as Error).message}`);
  }
  const catalog = parseCatalog(data, path);
  if (delayOverrideMs !== undefined)
    for (const product of catalog.products.values()) product.delayMs = delayOverrideMs;
  return catalog;
}
