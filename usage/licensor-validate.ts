/**
 * The checks a licensor's intake (UTP's NORA, CTA's administrator) applies before it accepts a
 * usage file, applied here first so that a file it would reject is never written: every product
 * code is one the catalog maps to that licensor; every detail line has the fields the licensor
 * requires (`requiredDetailFields`); and each summary row is exactly the sum of its detail lines.
 * A refusal names every problem, and the users to fix by name.
 */
import { type Catalog, type DetailField, formatMicros, parseMicros } from '../config/index.js';
import { DomainError } from '../platform/errors.js';
import type { LicensorDetailRow, LicensorFiles } from './licensor-file.js';

export type LicensorProblem =
  | { problem: 'unknown_product_code'; productCode: string }
  | { problem: 'missing_field'; field: DetailField; users: string[] }
  | {
      problem: 'totals_mismatch';
      productCode: string;
      category: string;
      summary: { subscribers: number; queries: number; fee: string };
      detail: { subscribers: number; queries: number; fee: string };
      users: string[];
    };

/** A file the licensor would reject: `details` lists each problem, with the users concerned. */
export class LicensorFileError extends DomainError {
  override name = 'LicensorFileError';

  constructor(licensor: string, file: string, problems: LicensorProblem[]) {
    super(
      'unprocessable',
      'licensor_file_rejected',
      `${licensor} would reject this ${file} file: ${problems.map(describe).join('; ')}`,
      {
        details: problems,
      },
    );
  }
}

/** Names listed in a message before "and N more"; `details` has them all. */
const NAMED = 20;

function named(users: readonly string[]): string {
  const shown = users.slice(0, NAMED).map((user) => JSON.stringify(user));
  return users.length > NAMED ? `${shown.join(', ')} and ${users.length - NAMED} more` : shown.join(', ');
}

function describe(problem: LicensorProblem): string {
  switch (problem.problem) {
    case 'unknown_product_code':
      return `product code ${JSON.stringify(problem.productCode)} is not one the catalog maps to this licensor (set the product's licensorCode)`;
    case 'missing_field':
      return `${problem.users.length} user(s) without ${problem.field === 'address' ? 'an address' : 'a name'}, required by the licensor: ${named(problem.users)} (set it with PATCH /admin/users/:id)`;
    case 'totals_mismatch': {
      const { summary: s, detail: d } = problem;
      return `the summary of ${problem.productCode} ${problem.category} (${s.subscribers} subscribers, ${s.queries} queries, fee ${s.fee}) does not match its detail (${d.subscribers}, ${d.queries}, ${d.fee}; users ${named(problem.users)})`;
    }
  }
}

function blank(value: string | null): boolean {
  return value === null || value.trim() === '';
}

interface Sum {
  subscribers: number;
  queries: number;
  fee: number;
  users: string[];
}

/**
 * Throws a `LicensorFileError` naming every problem of `files` that would get the `file` being
 * written (`summary` or `detail`) rejected: product codes and totals for both (a summary is
 * checked against the detail it claims to sum), required fields for the detail, whose lines carry
 * them.
 */
export function validateLicensorFiles(
  catalog: Catalog,
  files: LicensorFiles,
  file: 'summary' | 'detail',
): void {
  const licensor = catalog.licensors.get(files.licensor);
  const codes = new Set(
    [...catalog.products.values()]
      .filter((product) => product.licensor === files.licensor && product.licensorCode !== undefined)
      .map((product) => product.licensorCode as string),
  );
  const problems: LicensorProblem[] = [];

  const unknown = new Set<string>();
  for (const row of [...files.rows, ...files.details])
    if (!codes.has(row.productCode)) unknown.add(row.productCode);
  for (const productCode of [...unknown].sort())
    problems.push({ problem: 'unknown_product_code', productCode });

  if (file === 'detail') {
    for (const field of licensor?.requiredDetailFields ?? []) {
      const users = [...new Set(files.details.filter((d) => blank(d[field])).map((d) => d.user))].sort();
      if (users.length > 0) problems.push({ problem: 'missing_field', field, users });
    }
  }

  const sums = new Map<string, Sum>();
  const sumOf = (productCode: string, category: string): Sum => {
    const id = `${productCode}\u0000${category}`;
    let sum = sums.get(id);
    if (!sum) {
      sum = { subscribers: 0, queries: 0, fee: 0, users: [] };
      sums.set(id, sum);
    }
    return sum;
  };
  const add = (sum: Sum, detail: LicensorDetailRow) => {
    sum.subscribers++;
    sum.queries += detail.queries;
    sum.fee += parseMicros(detail.fee);
    sum.users.push(detail.user);
  };
  for (const detail of files.details) add(sumOf(detail.productCode, detail.category), detail);
  const summarised = new Set<string>();
  for (const row of files.rows) {
    summarised.add(`${row.productCode}\u0000${row.category}`);
    const sum = sumOf(row.productCode, row.category);
    if (
      sum.subscribers !== row.subscribers ||
      sum.queries !== row.queries ||
      sum.fee !== parseMicros(row.fee)
    ) {
      problems.push({
        problem: 'totals_mismatch',
        productCode: row.productCode,
        category: row.category,
        summary: { subscribers: row.subscribers, queries: row.queries, fee: row.fee },
        detail: { subscribers: sum.subscribers, queries: sum.queries, fee: formatMicros(sum.fee) },
        users: [...new Set(sum.users)].sort(),
      });
    }
  }
  for (const [id, sum] of sums) {
    if (summarised.has(id)) continue;
    const [productCode, category] = id.split('\u0000') as [string, string];
    problems.push({
      problem: 'totals_mismatch',
      productCode,
      category,
      summary: { subscribers: 0, queries: 0, fee: formatMicros(0) },
      detail: { subscribers: sum.subscribers, queries: sum.queries, fee: formatMicros(sum.fee) },
      users: [...new Set(sum.users)].sort(),
    });
  }

  if (problems.length > 0) throw new LicensorFileError(files.licensor, file, problems);
}
