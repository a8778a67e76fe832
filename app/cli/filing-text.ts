/**
 * How `mdhub report file|filings|diff|amend` print filings, listings and diffs for a person. The
 * same text whether the command read the database itself or a running hub's admin API answered:
 * both hand these functions the same JSON shapes.
 */
import type { Actor } from '../../platform/actor.js';
import {
  type Amendment,
  type Correction,
  type Filing,
  type FilingDiff,
  type FilingList,
  type LateEvent,
  type RowChange,
  type SubscriberChange,
  scopeWords,
} from '../../usage/index.js';

const iso = (at: number) => new Date(at).toISOString();

function who(actor: Actor): string {
  return actor.type === 'operator' ? `operator ${actor.id} (${actor.role})` : `${actor.type} ${actor.id}`;
}

function name(filing: Pick<Filing, 'kind' | 'id'>): string {
  return `${filing.kind} ${filing.id}`;
}

/** What `report file` and `report amend` print: the filing, its four files and their hashes. */
export function filingText(filing: Filing | Amendment): string {
  const replaces = filing.replaces === null ? '' : ` of filing ${filing.replaces}`;
  let text =
    `${name(filing)}${replaces}: ${filing.month}, ${scopeWords(filing.licensor)}, catalog ${filing.catalogVersion}, ` +
    `filed ${iso(filing.filedAt)} by ${who(filing.filedBy)}, audit record ${filing.auditSeq}\n`;
  if (filing.reason !== null) text += `  reason: ${filing.reason}\n`;
  for (const file of filing.files) {
    const label = `${file.format} ${file.detail ? 'detail' : 'summary'}`;
    text += `  ${label.padEnd(12)}  sha256 ${file.sha256}  ${file.bytes} bytes\n`;
  }
  if ('delta' in filing) {
    const { rows, subscribers } = filing.delta;
    text += `  delta: ${rows.length} row(s) and ${subscribers.length} subscriber(s) changed\n`;
  }
  return text;
}

/** What `report filings` prints: each month and licensor as its chain, then each filing of it. */
export function filingListText(list: FilingList, month: string | undefined): string {
  if (list.filings.length === 0) return month ? `no filings for ${month}\n` : 'no filings\n';
  const chains = new Map<string, FilingList['filings']>();
  for (const filing of list.filings) {
    const key = `${filing.month}, ${scopeWords(filing.licensor)}`;
    chains.set(key, [...(chains.get(key) ?? []), filing]);
  }
  let text = '';
  for (const [scope, filings] of chains) {
    text += `${scope}: ${filings.map(name).join(' → ')}\n`;
    const width = Math.max(...filings.map((f) => name(f).length));
    for (const f of filings) {
      const live = f.liveError
        ? `cannot be regenerated: ${f.liveError}`
        : f.matchesLive
          ? 'matches the live report'
          : 'differs from the live report';
      const place = f.replacedBy === null ? 'latest' : `replaced by ${f.replacedBy}`;
      text += `  ${name(f).padEnd(width)}  ${iso(f.filedAt)}  ${who(f.filedBy)}  catalog ${f.catalogVersion}  ${place}, ${live}\n`;
      if (f.reason !== null) text += `  ${''.padEnd(width)}  reason: ${f.reason}\n`;
    }
  }
  return text;
}

const ROW_FIELDS = ['subscribers', 'devices', 'queries', 'fee'] as const;
const DETAIL_FIELDS = [
  'category',
  'entitled',
  'accessed',
  'firstAccess',
  'lastAccess',
  'devices',
  'queries',
  'fee',
] as const;

function changed<T extends object>(before: T, after: T, fields: ReadonlyArray<keyof T>): string {
  return fields
    .filter((f) => before[f] !== after[f])
    .map((f) => `${String(f)} ${String(before[f])} → ${String(after[f])}`)
    .join(', ');
}

function rowText(row: RowChange): string {
  const scope = `${row.product} ${row.category}`;
  if (row.change === 'changed') return `  ~ ${scope}: ${changed(row.before!, row.after!, ROW_FIELDS)}\n`;
  const only = (row.before ?? row.after)!;
  return `  ${row.change === 'added' ? '+' : '-'} ${scope}: subscribers ${only.subscribers}, fee ${only.fee}\n`;
}

function lateText(event: LateEvent): string {
  return `      late event ${event.id} (${event.kind} on ${event.day}, received ${iso(event.receivedAt)})\n`;
}

function correctionText(c: Correction): string {
  const reason = c.reason === null ? '' : `: ${JSON.stringify(c.reason)}`;
  return (
    `      correction: audit record ${c.seq}, ${c.action} by ${who(c.by)}, entered ${iso(c.enteredAt)}, ` +
    `effective ${iso(c.effectiveAt)}${reason}\n`
  );
}

function subscriberText(s: SubscriberChange): string {
  const row = (s.after ?? s.before)!;
  const scope = `${s.product} ${row.category} ${s.user}${s.device === null ? '' : ` (device ${s.device})`}`;
  let text =
    s.change === 'changed'
      ? `  ~ ${scope}: ${changed(s.before!, s.after!, DETAIL_FIELDS)}\n`
      : `  ${s.change === 'added' ? '+' : '-'} ${scope}: fee ${row.fee}\n`;
  for (const event of s.lateEvents) text += lateText(event);
  for (const correction of s.corrections) text += correctionText(correction);
  if (s.lateEvents.length === 0 && s.corrections.length === 0)
    text += '      no late event or correction explains it (was the catalog or the hub upgraded?)\n';
  return text;
}

/** What `report diff` prints: whether the month drifted, then what changed and why. */
export function diffText(diff: FilingDiff): string {
  const scope = `${diff.month} (${scopeWords(diff.licensor)})`;
  const filing = `${name(diff.filing)}, filed ${iso(diff.filing.filedAt)}`;
  if (diff.matches) {
    const late = diff.lateEvents > 0 ? `; ${diff.lateEvents} late event(s) since changed nothing in it` : '';
    return `${scope}: the live report still matches ${filing}, byte for byte${late}\n`;
  }
  let text = `${scope}: the live report differs from ${filing}\n`;
  if (diff.catalogVersion)
    text += `catalog version: ${diff.catalogVersion.before} → ${diff.catalogVersion.after}\n`;
  if (diff.rows.length > 0) text += `rows:\n${diff.rows.map(rowText).join('')}`;
  if (diff.subscribers.length > 0) text += `subscribers:\n${diff.subscribers.map(subscriberText).join('')}`;
  text += `${diff.lateEvents} late event(s) since the filing; file an amendment with: mdhub report amend --month ${diff.month}${diff.licensor === null ? '' : ` --licensor ${diff.licensor}`} --reason "…"\n`;
  return text;
}
