/**
 * Stream ids (`<ms>-<seq>`, both parts decimal without leading zeros, the sequence up to 2^64 − 1)
 * compared without parsing them into numbers that could lose precision.
 */

/** Negative, zero or positive as `a` comes before, is, or comes after `b`. */
export function compareIds(a: string, b: string): number {
  const dashA = a.indexOf('-');
  const dashB = b.indexOf('-');
  return (
    compareDecimal(a.slice(0, dashA), b.slice(0, dashB)) ||
    compareDecimal(a.slice(dashA + 1), b.slice(dashB + 1))
  );
}

function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether `id` is a stream id as the bus makes them. */
export function isStreamId(id: string): boolean {
  return /^(0|[1-9]\d{0,19})-(0|[1-9]\d{0,19})$/.test(id);
}
