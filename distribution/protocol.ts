/**
 * The `/stocks` client protocol: Polygon's stocks WebSocket, so apps built on Polygon's SDKs work
 * unchanged, plus each subscription's mode, the snapshot a subscribe may ask for (`"snapshot":true`:
 * each channel's current value as one frame before its stream), the offsets a client may ask for
 * (`"offsets":true`) and send back after a reconnect (`resume`, resume.ts) and, where it fits,
 * Alpaca's well-known error codes.
 * Every server message is a JSON array of objects; status objects have `"ev":"status"`.
 */

/** Error `code`s carried by `"status":"error"` messages (Alpaca's where one fits). */
export const ERROR_CODES = {
  invalid_syntax: 400,
  not_authenticated: 401,
  already_authenticated: 403,
  symbol_limit: 405,
  session_limit: 406,
  slow_client: 407,
  insufficient_entitlement: 409,
  too_many_messages: 429,
  too_many_connections: 429,
} as const;

export type ErrorName = keyof typeof ERROR_CODES;

export type ClientMessage =
  | { action: 'auth'; token: string }
  /**
   * Additive to Polygon's: `snapshot`, each channel's current value before its stream; `offsets`,
   * the stream offsets the client may resume from.
   */
  | { action: 'subscribe'; params: string[]; snapshot: boolean; offsets: boolean }
  | { action: 'unsubscribe'; params: string[] }
  /** The offsets the client kept, checked by the session (resume.ts). */
  | { action: 'resume'; params: unknown };

export type ParsedMessage = { ok: true; message: ClientMessage } | { ok: false; error: string };

const EXAMPLE = '{"action":"subscribe","params":"T.AAPL,Q.AAPL"}';
const SNAPSHOT_EXAMPLE = '{"action":"subscribe","params":"Q.AAPL","snapshot":true}';
const OFFSETS_EXAMPLE = '{"action":"subscribe","params":"Q.AAPL","offsets":true}';

/** Validates one client message; the error says what was wrong in words. */
export function parseClientMessage(text: string): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: `the message is not valid JSON; send for example ${EXAMPLE}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, error: `expected a JSON object such as ${EXAMPLE}` };
  }
  const { action, params, snapshot, offsets } = value as {
    action?: unknown;
    params?: unknown;
    snapshot?: unknown;
    offsets?: unknown;
  };
  if (action !== 'auth' && action !== 'subscribe' && action !== 'unsubscribe' && action !== 'resume') {
    const shown = typeof action === 'string' ? JSON.stringify(action.slice(0, 40)) : 'missing';
    return { ok: false, error: `unknown action (${shown}): use auth, subscribe, unsubscribe or resume` };
  }
  if (offsets !== undefined && (action !== 'subscribe' || typeof offsets !== 'boolean')) {
    return {
      ok: false,
      error: `offsets is an option of subscribe, true or false, as in ${OFFSETS_EXAMPLE}; nothing was done`,
    };
  }
  if (action === 'resume') {
    if (snapshot !== undefined) return { ok: false, error: 'snapshot is an option of subscribe only' };
    return { ok: true, message: { action, params } };
  }
  if (typeof params !== 'string') {
    return {
      ok: false,
      error:
        action === 'auth'
          ? 'params must be your API token as a string'
          : `params must be a comma-separated string of channels, as in ${EXAMPLE}`,
    };
  }
  // Polygon's clients never send the key: absent, nothing changes for them.
  if (snapshot !== undefined && action !== 'subscribe') {
    return { ok: false, error: `snapshot is an option of subscribe only, as in ${SNAPSHOT_EXAMPLE}` };
  }
  if (snapshot !== undefined && typeof snapshot !== 'boolean') {
    return {
      ok: false,
      error: `snapshot must be true or false (not ${shownValue(snapshot)}), as in ${SNAPSHOT_EXAMPLE}; nothing was subscribed`,
    };
  }
  if (action === 'auth') return { ok: true, message: { action, token: params } };
  const list = params
    .split(',')
    .map((param) => param.trim())
    .filter((param) => param !== '');
  if (list.length === 0) return { ok: false, error: `params lists no channel; send for example ${EXAMPLE}` };
  if (action === 'unsubscribe') return { ok: true, message: { action, params: list } };
  return {
    ok: true,
    message: { action, params: list, snapshot: snapshot === true, offsets: offsets === true },
  };
}

/** A client's value in an error, as JSON, at most 40 characters of it. */
function shownValue(value: unknown): string {
  const json = JSON.stringify(value);
  return json.length > 40 ? `${json.slice(0, 40)}…` : json;
}

export interface StatusMessage {
  ev: 'status';
  status: string;
  message: string;
  [field: string]: unknown;
}

/** A server message: a JSON array of statuses or events. */
export function frame(statuses: readonly StatusMessage[]): string {
  return JSON.stringify(statuses);
}

export function status(status: string, message: string, extra?: Record<string, unknown>): StatusMessage {
  return { ev: 'status', status, message, ...extra };
}

export function errorStatus(
  name: ErrorName,
  message: string,
  extra?: Record<string, unknown>,
): StatusMessage {
  return { ev: 'status', status: 'error', code: ERROR_CODES[name], message, ...extra };
}

export const CONNECTED = frame([status('connected', 'Connected Successfully')]);
export const AUTH_SUCCESS = frame([status('auth_success', 'authenticated')]);
export const AUTH_TIMEOUT = frame([status('auth_timeout', 'No authentication request received.')]);

/** WebSocket close codes the edge uses. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooLarge: 1009,
  internalError: 1011,
  /**
   * A newer connection of the same device took this session's place (an application code, 4000–4999):
   * the device is connected already, so the client should not reconnect on its account.
   */
  replaced: 4000,
} as const;
