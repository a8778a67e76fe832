/** One named benchmark result as written to bench/results.json. */
export interface Figure {
  value: number;
  unit: string;
  /** The quality bar it is measured against, in words (`>= 500000`, `<= 10 ms`, …). */
  goal: string;
}

export type Figures = Record<string, Figure>;

/** A benchmark section: measures something and returns its figures. */
export interface Section {
  name: string;
  run(): Promise<Figures>;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
