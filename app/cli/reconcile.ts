import { writeFile } from 'node:fs/promises';
import {
  loadPrices,
  parseBillingMonth,
  type Reconciliation,
  reconcile,
  reconciliationCsv,
  reconciliationJson,
} from '../../billing/index.js';
import { paymentProvider } from '../options.js';
import { CliError, type Command } from './command.js';
import { loadEnvironment } from './environment.js';
import { reachDatabase } from './reach.js';

export const reconcileCommand: Command = {
  name: 'reconcile',
  summary: 'reconcile a month: ledger, outbox, Stripe and exchange fees per user and product',
  options: {
    month: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  },
  help: `Usage: mdhub reconcile --month YYYY-MM [--format csv|json] [--out FILE]

Lists, per user and product, what the usage ledger says is billable under the prices
(MDHUB_PRICES, default config/prices.default.json), what the billing outbox sent to Stripe, what
Stripe's meter summaries hold (when STRIPE_SECRET_KEY is set), and the exchange fee owed, with
totals and every mismatch and its reason (docs/billing.md). Money is dollars with six decimals.
Default format csv, to stdout; a summary line (rows, mismatches, totals) goes to stderr.

While a hub runs on the same embedded database (MDHUB_DATA_DIR), the reconciliation is done by
that hub through its admin API (GET /admin/reports/reconciliation, the same output), with
MDHUB_OPERATOR_TOKEN or MDHUB_ADMIN_TOKEN; without a token it is refused.`,

  async run(values, positionals) {
    if (positionals.length > 0)
      throw new CliError(`unexpected argument '${positionals[0]}' (see mdhub reconcile --help)`, 2);
    const month = values.month as string | undefined;
    if (!month || !parseBillingMonth(month))
      throw new CliError('--month YYYY-MM is required (see mdhub reconcile --help)', 2);
    const format = (values.format as string | undefined) ?? 'csv';
    if (format !== 'csv' && format !== 'json')
      throw new CliError(`--format must be csv or json, got '${format}'`, 2);

    const { env, catalog, logger } = loadEnvironment();
    const prices = loadPrices(catalog, env.MDHUB_PRICES);
    const file = values.out as string | undefined;
    const write = async (result: Reconciliation) => {
      const body = format === 'csv' ? reconciliationCsv(result) : reconciliationJson(result);
      if (file) await writeFile(file, body);
      else process.stdout.write(body);
      if (!result.closed)
        process.stderr.write(
          `${result.month} is not closed yet: billing sends a month to Stripe once it has ended and is closed, ` +
            'so what the ledger makes billable so far is not a mismatch\n',
        );
      process.stderr.write(
        `${result.rows.length} rows, ${result.totals.mismatches} mismatches; billable ${result.totals.billable}, ` +
          `sent ${result.totals.sent}, exchange fees ${result.totals.exchangeFee}${file ? `; written to ${file}` : ''}\n`,
      );
    };

    const { db, hub } = await reachDatabase(env, logger, 'mdhub reconcile');
    if (hub) {
      process.stderr.write(
        `reconciling ${month} through the admin API of the hub (pid ${hub.holder.pid})…\n`,
      );
      // JSON is the whole result, so both formats are rendered here by the same code as directly.
      const response = await hub.request('GET', '/admin/reports/reconciliation', { month, format: 'json' });
      await write((await response.json()) as Reconciliation);
      return 0;
    }
    try {
      const { rows } = await db.query<{ table: string | null }>(
        "select to_regclass('billing_outbox')::text as table",
      );
      if (!rows[0]?.table)
        throw new CliError("the database has no billing tables yet; run 'mdhub migrate' first");
      process.stderr.write(
        `reconciling ${month}${env.STRIPE_SECRET_KEY ? ' against Stripe' : ' (Stripe not configured)'}…\n`,
      );
      await write(await reconcile(db, { catalog, prices, month, provider: paymentProvider(env) }));
      return 0;
    } finally {
      await db.close();
    }
  },
};
