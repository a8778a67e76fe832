/**
 * Reaching a dependency (Redis, PostgreSQL) at boot: a few seconds of retries with backoff, since
 * in a fresh deployment the hub may start before them, then one readable failure naming the
 * variable and the address (never its password) instead of a hang or a bare `ECONNREFUSED`. Once
 * the process is up, outages are the readiness checks' business (platform/health.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface ReachTarget {
  /** What the dependency is, for people: `Redis`, `PostgreSQL`. */
  what: string;
  /** Its address; shown with any password replaced. */
  url: string;
  /** The environment variable the address came from, when there is one. */
  variable?: string;
  /** How long to keep trying before giving up (ms). */
  retryMs: number;
}

/** Backoff between attempts: 100 ms doubling to 2 s, so a dependency starting alongside is seen soon. */
const FIRST_PAUSE_MS = 100;
const MAX_PAUSE_MS = 2_000;

/** Error codes that mean "not there (yet)", as opposed to "there, and it refused us". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  // PostgreSQL: the database system is starting up, shutting down or in recovery.
  '57P03',
]);

/** A URL as it may be shown: the password and any `password` parameter replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** The short reason of a connection failure: its code (`ECONNREFUSED`), else its message. */
export function failureReason(err: unknown): string {
  const { code, message, errors } = (err ?? {}) as { code?: unknown; message?: unknown; errors?: unknown };
  if (typeof code === 'string' && code !== '') return code;
  // Node reports a host with several addresses (localhost: ::1 and 127.0.0.1) as an AggregateError.
  if (Array.isArray(errors) && errors.length > 0) return failureReason(errors[0]);
  return typeof message === 'string' && message !== '' ? message : String(err);
}

/** Whether `err` says the dependency could not be reached, so trying again may help. */
export function isConnectionFailure(err: unknown): boolean {
  const { code, errors, message } = (err ?? {}) as { code?: unknown; errors?: unknown; message?: unknown };
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (Array.isArray(errors) && errors.some(isConnectionFailure)) return true;
  // pg reports a dropped or timed-out connection attempt without a code.
  return typeof message === 'string' && /^Connection terminated/.test(message);
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

function address(target: Pick<ReachTarget, 'url' | 'variable'>): string {
  const shown = redactUrl(target.url);
  return target.variable === undefined ? shown : `${target.variable}=${shown}`;
}

/** A dependency that did not answer within the boot retries. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';

  constructor(
    readonly target: Omit<ReachTarget, 'retryMs'>,
    readonly afterMs: number,
    readonly reason: string,
  ) {
    super(`cannot reach ${target.what} at ${address(target)} after ${seconds(afterMs)} (${reason})`);
  }

  /** The same failure, naming the variable the address came from. */
  from(variable: string): UnreachableError {
    return new UnreachableError({ ...this.target, variable }, this.afterMs, this.reason);
  }
}

/** A dependency that answered, and refused us (bad password, missing database): retrying cannot help. */
export class RefusedError extends Error {
  override name = 'RefusedError';

  constructor(target: Omit<ReachTarget, 'retryMs'>, err: unknown) {
    super(`${target.what} at ${address(target)} refused: ${(err as Error)?.message ?? String(err)}`);
  }
}

/**
 * Runs `attempt` until it succeeds, retrying connection failures with backoff for
 * `target.retryMs`; then throws an `UnreachableError`. Any other failure throws a `RefusedError`
 * at once.
 */
export async function reach<T>(target: ReachTarget, attempt: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      if (!isConnectionFailure(err)) throw new RefusedError(target, err);
      const elapsed = Date.now() - started;
      if (elapsed >= target.retryMs) throw new UnreachableError(target, elapsed, failureReason(err));
      await sleep(Math.min(FIRST_PAUSE_MS * 2 ** tries, MAX_PAUSE_MS, target.retryMs - elapsed));
    }
  }
}
