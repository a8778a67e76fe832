import { generateLicensorFile, generateUsageReport } from '../../usage/index.js';
import { CliError, type Command } from './command.js';
import { loadEnvironment } from './environment.js';
import { formatOption, monthOption } from './month-args.js';
import { writeOutput } from './output.js';
import { reachDatabase } from './reach.js';
import {
  FILING_OPTIONS,
  FILING_SUBCOMMANDS,
  type FilingSubcommand,
  runFilingCommand,
} from './report-filings.js';
import { reportUnused } from './report-unused.js';

const SUBCOMMANDS = ['usage', 'unused', ...FILING_SUBCOMMANDS] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];
const OPTIONS: Record<Subcommand, readonly string[]> = {
  usage: ['month', 'format', 'detail', 'licensor', 'out'],
  unused: ['month', 'format', 'out'],
  ...FILING_OPTIONS,
};

export const reportCommand: Command = {
  name: 'report',
  summary: 'generate, file, compare and amend the monthly usage reports; licensor files; unused entitlements',
  options: {
    month: { type: 'string' },
    format: { type: 'string' },
    detail: { type: 'boolean' },
    out: { type: 'string' },
    licensor: { type: 'string' },
    reason: { type: 'string' },
    id: { type: 'string' },
    json: { type: 'boolean' },
  },
  help: `Usage: mdhub report usage --month YYYY-MM [--licensor L] [--format csv|json] [--detail] [--out FILE]
       mdhub report unused --month YYYY-MM [--format csv|json] [--out FILE]
       mdhub report file --month YYYY-MM [--licensor L] [--json]
       mdhub report filings [--month YYYY-MM] [--json]
       mdhub report filings --id N [--format csv|json] [--detail] [--out FILE]
       mdhub report diff --month YYYY-MM [--licensor L] [--json]
       mdhub report amend --month YYYY-MM [--licensor L] --reason "…" [--json]

usage     Generates the exchange usage report for a UTC calendar month from the usage ledger
          and the entitlement history: per product and category, the subscribers (users, or
          devices for device-counted products, on the product's entitled or accessed basis),
          their devices, real-time queries and the fee under the schedule in force on the 1st.
          --detail adds one row per subscriber. The same ledger always gives the same bytes;
          the report's SHA-256 is written to the audit log and printed on stderr. Default
          format csv; without --out the report goes to stdout. Progress is shown on stderr.
          --licensor L (a licensor of the catalog: CTA, UTP by default) writes that licensor's
          own file instead: its summary (licensor product code x category: subscribers,
          queries, fee) or, with --detail, its detail file (one line per counted subscriber:
          id, device, name, address, category, first and last instant able to receive real
          time, accessed yes/no, devices, queries, fee). A file the licensor would reject (a
          required name or address missing, a product without a licensor code, totals not
          matching the detail) is refused, naming the users to fix; nothing is written.
unused    Lists the users to whom real time was open at some instant of the month who never
          received any, with the exchange fee each cost: what a revocation would have saved.
          Reads only; no audit record.
file      Files the month: keeps the exact bytes of the report in its four renderings (JSON
          and CSV, summary and detail), their SHA-256 and the catalog version, append-only,
          with an audit record carrying the hashes. --licensor files only that licensor's
          products. Refused while the month is not over, and for a month already filed for
          that licensor (amend it instead). Prints the filing and its hashes.
filings   Lists the filings (of one month with --month), each month and licensor as its chain
          (filing → amendment → amendment), each filing saying whether the report regenerated
          now still matches it byte for byte. --id N writes filing N's stored bytes instead
          (default csv summary; --detail, --format, --out), its SHA-256 on stderr.
diff      Compares the month's latest filing (for --licensor, or of every licensor) with the
          report regenerated now: the summary rows and the subscribers added, removed or
          changed, before and after, each with the late usage events (counted after the
          filing) and the entitlement corrections (entered after it, with an effect date in
          or before the month) that explain it.
amend     Files the regenerated report as an amendment of the month's latest filing, with the
          reason and a machine-readable delta against the filing it replaces; audited. Refused
          when the live report still matches the latest filing.

--json prints the admin API's JSON instead of text. Only operators of the admin and compliance
roles may file and amend through a hub. See docs/usage-reports.md.

While a hub runs on the same embedded database (MDHUB_DATA_DIR), every subcommand runs through
that hub's admin API (GET /admin/reports/usage, GET /admin/reports/unused, POST and GET
/admin/reports/filings, GET /admin/reports/diff, POST /admin/reports/filings/:id/amendments)
with the same output and the same records, using MDHUB_OPERATOR_TOKEN or MDHUB_ADMIN_TOKEN;
without a token it is refused. With DATABASE_URL the command always reads the database itself.`,

  async run(values, positionals) {
    const [name, ...extra] = positionals;
    if (!SUBCOMMANDS.includes(name as Subcommand))
      throw new CliError(`report needs one of ${SUBCOMMANDS.join(', ')} (see mdhub report --help)`, 2);
    if (extra.length > 0)
      throw new CliError(`unexpected argument '${extra[0]}' (see mdhub report --help)`, 2);
    const subcommand = name as Subcommand;
    const stray = Object.keys(values).find(
      (key) => values[key] !== undefined && !OPTIONS[subcommand].includes(key),
    );
    if (stray)
      throw new CliError(`--${stray} does not apply to 'report ${subcommand}' (see mdhub report --help)`, 2);
    if (subcommand === 'unused') return reportUnused(values);
    if (subcommand !== 'usage') return runFilingCommand(subcommand as FilingSubcommand, values);
    const month = monthOption(values, 'report');
    const format = formatOption(values);
    const out = values.out as string | undefined;
    const licensor = values.licensor as string | undefined;

    const { env, catalog, logger } = loadEnvironment();
    if (licensor !== undefined && !catalog.licensors.has(licensor))
      throw new CliError(
        `--licensor must be one of ${[...catalog.licensors.keys()].join(', ')}, got '${licensor}'`,
        2,
      );
    const started = Date.now();
    const progress = (step: string) =>
      process.stderr.write(`report ${month}: ${step} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
    const done = (sha256: string, auditSeq: string | number) =>
      progress(`done: sha256 ${sha256}, audit record ${auditSeq}${out ? `, written to ${out}` : ''}`);

    const { db, hub } = await reachDatabase(env, logger, 'mdhub report');
    if (hub) {
      progress(`through the admin API of the hub (pid ${hub.holder.pid})`);
      const response = await hub.request('GET', '/admin/reports/usage', {
        month,
        format,
        detail: values.detail === true ? '1' : '0',
        licensor,
      });
      const body = new Uint8Array(await response.arrayBuffer());
      await writeOutput(out, body);
      done(response.headers.get('x-report-sha256') ?? '?', response.headers.get('x-audit-seq') ?? '?');
      return 0;
    }
    try {
      const { rows } = await db.query<{ table: string | null }>(
        "select to_regclass('usage_daily')::text as table",
      );
      if (!rows[0]?.table)
        throw new CliError("the database has no usage ledger yet; run 'mdhub migrate' first");
      const options = {
        format,
        detail: values.detail === true,
        actor: { type: 'system', id: 'cli' },
        onProgress: progress,
      } as const;
      const generated =
        licensor === undefined
          ? await generateUsageReport(db, catalog, month, options)
          : await generateLicensorFile(db, catalog, month, licensor, options);
      await writeOutput(out, generated.body);
      done(generated.sha256, generated.auditSeq);
      return 0;
    } finally {
      await db.close();
    }
  },
};
