/**
 * What a session tells its client, in words: the mode of a subscription (real time, delayed with
 * the reasons, refused, or mixed across the products a wildcard may carry), the statuses for
 * subscribe, unsubscribe and mode changes, and every refusal. Plain functions from a decision to
 * the status objects the client protocol puts on the wire, so the words are tested as they are
 * sent; the session only picks which one applies.
 */
import type { Product } from '../config/index.js';
import { REASON_TEXT, type Reason } from '../entitlements/index.js';
import { delayWords, type ModeCode, modeName, NONE, REALTIME } from './products.js';
import { errorStatus, frame, type StatusMessage, status } from './protocol.js';
import type { SnapshotPick } from './subscribe-snapshot.js';

/** A subscription's mode as a client is told it. */
export interface ModeReport {
  mode: 'realtime' | 'delayed' | 'refused' | 'mixed';
  /** The fields its statuses carry: `mode`, and `reason`/`reasons` or `products`. */
  fields: Record<string, unknown>;
  /** In words, e.g. `real time` or `delayed by 15 minutes: There is no real-time subscription…`. */
  words: string;
}

/** What a report needs of a product. */
export type ReportedProduct = Pick<Product, 'id' | 'delayMs'>;

/** No product has a delivery rate. */
const NO_RATES: ReadonlyArray<number | undefined> = [];

/**
 * The mode of a channel that may carry the products at `indices`, from the session's decision per
 * product index (`modes`, and `reasons` where a mode is not real time) and the delivery rate in
 * force per product (`rates`, updates a second per symbol; none where undefined). Products that
 * differ in mode or rate are reported one by one, as `mixed`.
 */
export function modeReport(
  indices: readonly number[],
  modes: readonly ModeCode[],
  reasons: ReadonlyArray<readonly Reason[]>,
  products: readonly ReportedProduct[],
  rates: ReadonlyArray<number | undefined> = NO_RATES,
): ModeReport {
  const first = indices[0] as number;
  if (indices.every((p) => modes[p] === modes[first] && rates[p] === rates[first])) {
    return withRate(sameMode(indices, modes, reasons, products), rates[first]);
  }
  const perProduct: Record<string, unknown> = {};
  const parts: string[] = [];
  for (const p of indices) {
    const report = withRate(sameMode([p], modes, reasons, products), rates[p]);
    const id = (products[p] as ReportedProduct).id;
    perProduct[id] = { mode: report.mode, ...report.fields };
    parts.push(`${id}: ${report.words}`);
  }
  return { mode: 'mixed', fields: { mode: 'mixed', products: perProduct }, words: parts.join('; ') };
}

/** The mode of products that share one; a delay in words is the longest of theirs. */
function sameMode(
  indices: readonly number[],
  modes: readonly ModeCode[],
  reasons: ReadonlyArray<readonly Reason[]>,
  products: readonly ReportedProduct[],
): ModeReport {
  const code = modes[indices[0] as number] as ModeCode;
  const mode = modeName(code);
  if (code === REALTIME) return { mode, fields: { mode }, words: 'real time' };
  const all = [...new Set(indices.flatMap((p) => reasons[p] ?? []))];
  const text = all.map((reason) => REASON_TEXT[reason]).join(' ');
  const delay = Math.max(...indices.map((p) => products[p]?.delayMs ?? 0));
  const words = code === NONE ? `refused: ${text}` : `delayed by ${delayWords(delay)}: ${text}`;
  return { mode, fields: { mode, reason: all[0], reasons: all }, words };
}

/**
 * A report with the delivery rate: `"maxUpdatesPerSecond":N` after the mode's fields (additive to
 * Polygon's status), and in words.
 */
function withRate(report: ModeReport, rate: number | undefined): ModeReport {
  if (rate === undefined || report.mode === 'refused') return report;
  return {
    mode: report.mode,
    fields: { ...report.fields, maxUpdatesPerSecond: rate },
    words: `${report.words} (at most ${rate} update${rate === 1 ? '' : 's'} a second per symbol, the latest kept)`,
  };
}

/**
 * The answer to subscribing to `param`: success with its mode, or 409 when it is refused. A
 * delayed subscription with nothing delayed to send yet says when its first update can come
 * (`delayedFrom`, epoch ms; additive to Polygon's status).
 */
export function subscribed(param: string, report: ModeReport, delayedFrom?: number): StatusMessage {
  if (report.mode === 'refused') {
    return errorStatus(
      'insufficient_entitlement',
      `Not entitled to ${param}: ${report.words} You stay subscribed and get data once that changes.`,
      { params: param, ...report.fields },
    );
  }
  const message = `subscribed to: ${param}`;
  return status(
    'success',
    report.mode === 'realtime' ? message : `${message} (${report.words})`,
    delayedFrom === undefined ? report.fields : { ...report.fields, delayedFrom },
  );
}

/**
 * A subscribe status for a client that asked for snapshots: `"snapshot":"sent"` (the value's frame
 * follows the statuses), `"none"` or `"unsupported"`, with why in `snapshotMessage`. Added after
 * the status's own fields, which stay as they are.
 */
export function withSnapshot(reply: StatusMessage, pick: SnapshotPick): StatusMessage {
  return pick.words === undefined
    ? { ...reply, snapshot: pick.state }
    : { ...reply, snapshot: pick.state, snapshotMessage: pick.words };
}

/**
 * A live change of a subscription's mode or of its reasons, with `at`: the edge's clock (ms since
 * the epoch, like an event's `t`) when it switched and sent this status. Every frame before it on
 * the socket was sent before that instant, so a client (or an auditor reading a client's log) can
 * tell a switch made in time from frames it only read late.
 */
export function modeChanged(param: string, report: ModeReport, at: number): StatusMessage {
  return status('mode', `${param} is now ${report.words}`, { params: param, ...report.fields, at });
}

export function unsubscribed(param: string): StatusMessage {
  return status('success', `unsubscribed to: ${param}`);
}

const CHANNEL_SYNTAX = 'write TYPE.SYMBOL, such as T.AAPL, Q.MSFT or Q.* (types T, Q, A, AM)';

/** One status for every param of a message that is not a channel (each shown up to 40 characters). */
export function invalidChannels(params: readonly string[]): StatusMessage {
  const [first] = params as [string];
  if (params.length === 1) {
    return errorStatus('invalid_syntax', `${first} is not a channel: ${CHANNEL_SYNTAX}.`, { params: first });
  }
  return errorStatus(
    'invalid_syntax',
    `${params.length} params are not channels (${first}, …): ${CHANNEL_SYNTAX}.`,
    { params: params.join(','), count: params.length },
  );
}

/** One status for every channel of a message refused for the connection's symbol limit. */
export function symbolLimit(params: readonly string[], max: number): StatusMessage {
  const [first] = params as [string];
  const what = params.length === 1 ? first : `${params.length} channels (${first}, …)`;
  return errorStatus(
    'symbol_limit',
    `Not subscribed to ${what}: this connection already has ${max} symbols, the most allowed (a * counts as one). Unsubscribe from some first.`,
    params.length === 1 ? { params: first } : { params: params.join(','), count: params.length },
  );
}

/** A subscribe or unsubscribe listing more channels than one message may. */
export function tooManyChannels(action: string, count: number, most: number): StatusMessage {
  return errorStatus(
    'invalid_syntax',
    `This ${action} lists ${count} channels, more than the ${most} one message may list; nothing was done. Send them in several messages.`,
    { count },
  );
}

/** A session opened past the user's concurrent-session limit: delayed only, for now. */
export function sessionLimit(limit: number): StatusMessage {
  return errorStatus(
    'session_limit',
    `This account already has ${limit} session${limit === 1 ? '' : 's'} open, its limit: this connection gets delayed data only, and real time once another session closes.`,
  );
}

/**
 * The session a newer connection of the same device replaced: it had stopped answering pings.
 * Sent before the close (code 4000); a half-dead socket may never read it.
 */
export const SESSION_REPLACED = status(
  'session_replaced',
  'A newer connection from this device took the place of this session, which had stopped answering pings; it is closed. Do not reconnect on its account: the device is connected already.',
);

/** A message over the connection's rate, ignored. */
export function tooManyMessages(rate: number, burst: number): StatusMessage {
  return errorStatus(
    'too_many_messages',
    `Too many messages: at most ${rate} a second (bursts of ${burst}); this one was ignored.`,
  );
}

/** Past the rate too often: the connection is closed. */
export const MESSAGES_ABUSED = errorStatus(
  'too_many_messages',
  'Too many messages; the connection is closed.',
);

export const NOT_AUTHENTICATED = errorStatus(
  'not_authenticated',
  'Not authenticated: send {"action":"auth","params":"<your API token>"} first.',
);

export const ALREADY_AUTHENTICATED = errorStatus(
  'already_authenticated',
  'This connection is already authenticated.',
);

export const AUTH_FAILED = status('auth_failed', 'authentication failed');

export const AUTH_RATE_LIMITED = status(
  'auth_failed',
  'Too many failed authentication attempts from your address with this token; wait a minute and retry.',
);

export const TOKEN_REVOKED = errorStatus(
  'not_authenticated',
  'Your API token was revoked; connect again with a valid one.',
);

/** The one frame sent past a slow client's bound, encoded once. */
export const SLOW_CLIENT = frame([
  errorStatus(
    'slow_client',
    'Your connection did not read data fast enough and is closed. Subscribe to fewer symbols or read faster.',
  ),
]);
