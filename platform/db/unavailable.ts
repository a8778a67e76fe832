/**
 * Whether an error says the database could not be reached or went away (refused, reset or timed
 * out connections; a server shutting down, starting up or crashed) rather than that a statement
 * failed. Such an error says nothing about the request: it is answered 503 and retried, never
 * taken as a verdict on the data.
 */
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** SQLSTATE: class 08 (connection exception), 57P01–57P03 (shutdown, crash, cannot connect now). */
const SQLSTATE = /^(08...|57P0[123])$/;
const MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i;

export function isDatabaseUnavailable(error: unknown): boolean {
  for (
    let e = error as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 4;
    depth++
  ) {
    if (typeof e.code === 'string' && (NETWORK.has(e.code) || SQLSTATE.test(e.code))) return true;
    if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true;
    e = e.cause as typeof e;
  }
  return false;
}
