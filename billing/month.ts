/** A billing month: a UTC calendar month `YYYY-MM` and its bounds, epoch ms. */
export interface BillingMonth {
  month: string;
  /** First instant, inclusive. */
  start: number;
  /** First instant of the next month, exclusive. */
  end: number;
}

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** Parses `YYYY-MM`; undefined for anything else. */
export function parseBillingMonth(text: string): BillingMonth | undefined {
  const match = MONTH.exec(text);
  if (!match) return undefined;
  const year = Number(match[1]);
  const index = Number(match[2]) - 1;
  return { month: text, start: Date.UTC(year, index, 1), end: Date.UTC(year, index + 1, 1) };
}

/** The month an instant falls in. */
export function monthOf(at: number): BillingMonth {
  const month = new Date(at).toISOString().slice(0, 7);
  return parseBillingMonth(month) as BillingMonth;
}

/** The month before `month`. */
export function previousMonth(month: BillingMonth): BillingMonth {
  return monthOf(month.start - 1);
}
