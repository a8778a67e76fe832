import type { Catalog } from '../../config/index.js';
import type { Actor } from '../../platform/actor.js';
import type { Db, Tx } from '../../platform/db/index.js';
import {
  type Amendment,
  amendFiling,
  diffMonth,
  type Filing,
  type FilingDiff,
  type FilingList,
  fileReport,
  listFilings,
  type ReportContext,
  type ReportFormat,
  readFiledFile,
  scopeWords,
} from '../../usage/index.js';
import { CliError } from './command.js';
import { loadEnvironment } from './environment.js';
import { diffText, filingListText, filingText } from './filing-text.js';
import { formatOption, monthOption, optionalMonthOption } from './month-args.js';
import { writeOutput } from './output.js';
import { type HubApi, reachDatabase } from './reach.js';

export const FILING_SUBCOMMANDS = ['file', 'filings', 'diff', 'amend'] as const;
export type FilingSubcommand = (typeof FILING_SUBCOMMANDS)[number];
type Values = Record<string, string | boolean | undefined>;

/** The options each subcommand takes; any other is refused before anything is reached. */
export const FILING_OPTIONS: Record<FilingSubcommand, readonly string[]> = {
  file: ['month', 'licensor', 'json'],
  filings: ['month', 'id', 'format', 'detail', 'out', 'json'],
  diff: ['month', 'licensor', 'json'],
  amend: ['month', 'licensor', 'reason', 'json'],
};

const CLI_ACTOR: Actor = { type: 'system', id: 'cli' };

/** The command line, checked: what the subcommand needs, before the database or a hub is reached. */
interface Args {
  month?: string;
  licensor?: string;
  reason?: string;
  /** `filings --id N`: the stored bytes of filing N, as `format` (default csv) and `detail`. */
  id?: number;
  format: ReportFormat;
  detail: boolean;
  out?: string;
  json: boolean;
}

function args(subcommand: FilingSubcommand, values: Values): Args {
  const month = subcommand === 'filings' ? optionalMonthOption(values) : monthOption(values, 'report');
  const reason = values.reason as string | undefined;
  if (subcommand === 'amend' && (reason === undefined || reason.trim() === ''))
    throw new CliError('--reason "…" is required: why the filing is amended (see mdhub report --help)', 2);
  const idText = values.id as string | undefined;
  if (idText !== undefined && !/^\d{1,15}$/.test(idText))
    throw new CliError(`--id must be a filing number, got '${idText}'`, 2);
  if (idText === undefined)
    for (const key of ['format', 'detail', 'out'])
      if (values[key] !== undefined)
        throw new CliError(`--${key} goes with --id (see mdhub report --help)`, 2);
  const format = formatOption(values);
  return {
    month,
    licensor: values.licensor as string | undefined,
    reason,
    id: idText === undefined ? undefined : Number(idText),
    format,
    detail: values.detail === true,
    out: values.out as string | undefined,
    json: values.json === true,
  };
}

/** The latest filing of the scope in a listing; the same refusal as the verb when there is none. */
function latestOf(list: FilingList, month: string, licensor: string | null): Filing {
  const latest = list.filings.find((f) => f.licensor === licensor && f.replacedBy === null);
  if (!latest) throw new CliError(`${month} (${scopeWords(licensor)}) has no filing`);
  return latest;
}

/** What a subcommand yields, to print the same way whichever way it was reached. */
type Outcome =
  | { kind: 'filing'; value: Filing | Amendment }
  | { kind: 'list'; value: FilingList }
  | { kind: 'diff'; value: FilingDiff }
  | { kind: 'bytes'; value: Uint8Array; sha256: string };

async function direct(db: Db, catalog: Catalog, subcommand: FilingSubcommand, a: Args): Promise<Outcome> {
  const { rows } = await db.query<{ table: string | null }>(
    "select to_regclass('report_filings')::text as table",
  );
  if (!rows[0]?.table) throw new CliError("the database has no filings table yet; run 'mdhub migrate' first");
  const ctx = (tx: Tx): ReportContext => ({ actor: CLI_ACTOR, tx, at: Date.now(), catalog });
  switch (subcommand) {
    case 'file': {
      const input = { month: a.month!, licensor: a.licensor };
      return { kind: 'filing', value: await db.transaction((tx) => fileReport({ ctx: ctx(tx), input })) };
    }
    case 'amend': {
      const input = { month: a.month!, licensor: a.licensor, reason: a.reason! };
      return { kind: 'filing', value: await db.transaction((tx) => amendFiling({ ctx: ctx(tx), input })) };
    }
    case 'diff':
      return { kind: 'diff', value: await diffMonth(db, catalog, { month: a.month!, licensor: a.licensor }) };
    case 'filings': {
      if (a.id === undefined)
        return { kind: 'list', value: await listFilings(db, catalog, { month: a.month, at: Date.now() }) };
      const { body, sha256 } = await readFiledFile(db, a.id, a.format, a.detail);
      return { kind: 'bytes', value: new Uint8Array(body), sha256 };
    }
  }
}

async function throughHub(hub: HubApi, subcommand: FilingSubcommand, a: Args): Promise<Outcome> {
  const json = async <T>(response: Response) => (await response.json()) as T;
  switch (subcommand) {
    case 'file': {
      const response = await hub.request(
        'POST',
        '/admin/reports/filings',
        {},
        { month: a.month, licensor: a.licensor },
      );
      return { kind: 'filing', value: await json<Filing>(response) };
    }
    case 'amend': {
      const list = await json<FilingList>(
        await hub.request('GET', '/admin/reports/filings', { month: a.month }),
      );
      const latest = latestOf(list, a.month!, a.licensor ?? null);
      const response = await hub.request(
        'POST',
        `/admin/reports/filings/${latest.id}/amendments`,
        {},
        { reason: a.reason },
      );
      return { kind: 'filing', value: await json<Amendment>(response) };
    }
    case 'diff': {
      const response = await hub.request('GET', '/admin/reports/diff', {
        month: a.month,
        licensor: a.licensor,
      });
      return { kind: 'diff', value: await json<FilingDiff>(response) };
    }
    case 'filings': {
      if (a.id === undefined)
        return {
          kind: 'list',
          value: await json<FilingList>(
            await hub.request('GET', '/admin/reports/filings', { month: a.month }),
          ),
        };
      const response = await hub.request('GET', `/admin/reports/filings/${a.id}`, {
        format: a.format,
        detail: a.detail ? '1' : '0',
      });
      return {
        kind: 'bytes',
        value: new Uint8Array(await response.arrayBuffer()),
        sha256: response.headers.get('x-report-sha256') ?? '?',
      };
    }
  }
}

async function print(outcome: Outcome, a: Args): Promise<void> {
  if (outcome.kind === 'bytes') {
    await writeOutput(a.out, outcome.value);
    process.stderr.write(`filing ${a.id}: sha256 ${outcome.sha256}${a.out ? `, written to ${a.out}` : ''}\n`);
    return;
  }
  if (a.json) {
    process.stdout.write(`${JSON.stringify(outcome.value, null, 2)}\n`);
    return;
  }
  const text =
    outcome.kind === 'filing'
      ? filingText(outcome.value)
      : outcome.kind === 'list'
        ? filingListText(outcome.value, a.month)
        : diffText(outcome.value);
  process.stdout.write(text);
}

/** Runs `report file|filings|diff|amend`, beside a running hub through its admin API. */
export async function runFilingCommand(subcommand: FilingSubcommand, values: Values): Promise<number> {
  const a = args(subcommand, values);
  const { env, catalog, logger } = loadEnvironment();
  const { db, hub } = await reachDatabase(env, logger, 'mdhub report');
  if (hub) {
    await print(await throughHub(hub, subcommand, a), a);
    return 0;
  }
  try {
    await print(await direct(db, catalog, subcommand, a), a);
    return 0;
  } finally {
    await db.close();
  }
}
