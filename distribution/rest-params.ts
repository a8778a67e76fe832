/**
 * The REST routes' path and query parameters as zod schemas: the routes check their input with
 * these (each refusal keeping its Polygon-style code and sentence), and the OpenAPI document
 * (rest-docs.ts) is generated from the same schemas.
 */
import { z } from 'zod';
import { DomainError } from '../platform/errors.js';
import { SYMBOL } from './channels.js';

export const symbolParam = z.string().regex(SYMBOL).describe('A ticker, such as AAPL or BRK.A');

export const multiplierParam = z
  .string()
  .regex(/^[1-9]\d{0,5}$/)
  .describe('How many timespans one bar covers (1–999999)');

export const TIMESPANS = ['second', 'minute', 'hour', 'day', 'week', 'month', 'quarter', 'year'] as const;
export const timespanParam = z.enum(TIMESPANS).describe('The bar width');

export const boundParam = z
  .string()
  .regex(/^(\d{4}-\d{2}-\d{2}|\d{1,15})$/)
  .describe('A day (YYYY-MM-DD, New York) or epoch milliseconds');

export const dayParam = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/)
  .describe('A day, YYYY-MM-DD');

export const sortParam = z.enum(['asc', 'desc']).describe('Order by time (default asc)');

/** `limit` as Polygon takes it: a number written in the query (as `Number` reads it), whole, 1–`max`. */
export function limitParam(max: number) {
  return z.coerce.number().int().min(1).max(max).describe(`At most this many results (1–${max})`);
}

/** Whether `value` matches `schema`. */
export function matches(schema: z.ZodType, value: unknown): boolean {
  return schema.safeParse(value).success;
}

/** `value` as `schema` reads it, or a 400 with `code` and `message`. */
export function valid<T extends z.ZodType>(
  schema: T,
  value: unknown,
  code: string,
  message: string,
): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new DomainError('invalid', code, message);
  return parsed.data;
}
