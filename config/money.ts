import { z } from 'zod';

/**
 * Money is integer micro-dollars (1 USD = 1 000 000) everywhere inside mdhub: exact, and safe as a
 * JS number up to about nine billion dollars. Decimal strings are the only way in or out.
 */
export type Micros = number;

export const MICROS_PER_DOLLAR = 1_000_000;

const DECIMAL = /^(\d{1,10})(?:\.(\d{1,6}))?$/;

/** `"24.00"` → 24 000 000. Throws on anything that is not a plain non-negative decimal. */
export function parseMicros(text: string): Micros {
  const match = DECIMAL.exec(text);
  if (!match) throw new Error(`not a dollar amount with at most 6 decimals: ${JSON.stringify(text)}`);
  const whole = Number(match[1]);
  const fraction = Number((match[2] ?? '').padEnd(6, '0'));
  return whole * MICROS_PER_DOLLAR + fraction;
}

/** 24 000 000 → `"24.000000"`: fixed six decimals so reports are byte-stable. */
export function formatMicros(micros: Micros): string {
  if (!Number.isSafeInteger(micros)) throw new Error(`not an integer amount of micro-dollars: ${micros}`);
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_DOLLAR);
  const fraction = String(abs % MICROS_PER_DOLLAR).padStart(6, '0');
  return `${sign}${whole}.${fraction}`;
}

/** A decimal dollar string in a config file, parsed to micro-dollars; the error says what is wrong. */
export const moneySchema = z.string().transform((text, ctx) => {
  try {
    return parseMicros(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
