import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../config/index.js';
import { auditSection } from './audit.js';
import { deflateSection } from './deflate.js';
import { distributionSection } from './distribution.js';
import type { Figures, Section } from './figures.js';
import { ingestSection } from './ingest.js';
import { ledgerSection } from './ledger.js';
import { packSection } from './pack.js';
import { platformSection } from './platform.js';
import { restSection } from './rest.js';

/**
 * `npm run bench`: runs every section (or those named on the command line), prints one table and
 * merges the figures into bench/results.json, so a partial run keeps the other sections' figures.
 */
const SECTIONS: readonly Section[] = [
  platformSection,
  auditSection,
  ingestSection,
  ledgerSection,
  packSection,
  distributionSection,
  deflateSection,
  restSection,
];

async function main(names: string[]): Promise<void> {
  const chosen = names.length ? SECTIONS.filter((s) => names.includes(s.name)) : SECTIONS;
  const unknown = names.filter((n) => !SECTIONS.some((s) => s.name === n));
  if (unknown.length)
    throw new Error(
      `unknown section ${unknown.join(', ')}; sections: ${SECTIONS.map((s) => s.name).join(', ')}`,
    );
  const figures: Figures = {};
  for (const section of chosen) {
    process.stderr.write(`bench: ${section.name} …\n`);
    Object.assign(figures, await section.run());
  }
  const file = join(packageRoot(), 'bench', 'results.json');
  mkdirSync(join(packageRoot(), 'bench'), { recursive: true });
  let previous: Figures = {};
  try {
    previous = JSON.parse(readFileSync(file, 'utf8')) as Figures;
  } catch {
    previous = {};
  }
  const merged = Object.fromEntries(
    Object.entries({ ...previous, ...figures }).sort(([a], [b]) => a.localeCompare(b)),
  );
  writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
  printTable(figures);
}

function printTable(figures: Figures): void {
  const rows = Object.entries(figures).map(([name, f]) => [name, formatValue(f.value), f.unit, f.goal]);
  const header = ['figure', 'value', 'unit', 'goal'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write(`${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error: Error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(1);
  },
);
