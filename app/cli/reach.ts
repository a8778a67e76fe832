import type { Env } from '../../config/index.js';
import {
  type ConfiguredDb,
  DataDirLockedError,
  type LockHolder,
  openConfiguredDb,
} from '../../platform/db/index.js';
import type { Logger } from '../../platform/logger.js';
import { dataSource } from '../options.js';
import { CliError } from './command.js';

/**
 * The embedded database has one writer. A command finds it free and opens it itself, or finds a
 * hub holding it and goes through that hub's admin API, which then writes the same records (the
 * report's audit record included) into the one database there is. It never opens a second copy.
 */
export type Reach = { db: ConfiguredDb; hub?: undefined } | { db?: undefined; hub: HubApi };

/** A running hub's admin API, as one command uses it. */
export interface HubApi {
  readonly holder: LockHolder;
  /**
   * Sends the request, with `body` as JSON when given; a non-2xx answer becomes a `CliError`
   * carrying the API's message.
   */
  request(
    method: 'GET' | 'POST',
    path: string,
    query?: Record<string, string | undefined>,
    body?: unknown,
  ): Promise<Response>;
}

/**
 * Opens the configured database, or reaches the hub that holds it. `purpose` names the command
 * to others in the lock file: `mdhub report`.
 */
export async function reachDatabase(env: Env, logger: Logger, purpose: string): Promise<Reach> {
  try {
    return { db: await openConfiguredDb(dataSource(env), { logger, purpose }) };
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    return { hub: hubApi(env, error) };
  }
}

/** Opens the configured database for a command no admin route does (`migrate`): a held one is refused. */
export async function openDatabase(env: Env, logger: Logger, purpose: string): Promise<ConfiguredDb> {
  try {
    return await openConfiguredDb(dataSource(env), { logger, purpose });
  } catch (error) {
    if (!(error instanceof DataDirLockedError)) throw error;
    throw refusal(error, 'stop it first');
  }
}

/** The one line for a directory someone else holds: what holds it, and what to do. */
export function refusal(locked: DataDirLockedError, hubAdvice: string): CliError {
  if (locked.holder.purpose !== 'the hub')
    return new CliError(`${locked.message}; wait for it to finish, then try again`);
  return new CliError(`${locked.message}; ${hubAdvice}`);
}

function hubApi(env: Env, locked: DataDirLockedError): HubApi {
  const { holder } = locked;
  const held = locked.message;
  if (holder.purpose !== 'the hub') throw refusal(locked, '');
  const url = holder.adminUrl;
  if (!url)
    throw new CliError(`${held} and serves no admin API yet; try again once it is up, or stop it first`);
  const token = env.MDHUB_OPERATOR_TOKEN ?? env.MDHUB_ADMIN_TOKEN;
  if (!token)
    throw refusal(
      locked,
      'stop it first, or set MDHUB_OPERATOR_TOKEN (or MDHUB_ADMIN_TOKEN) to run this through its admin API',
    );
  return {
    holder,
    async request(method, path, query = {}, body = undefined) {
      const target = new URL(path, url);
      for (const [key, value] of Object.entries(query))
        if (value !== undefined) target.searchParams.set(key, value);
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      let response: Response;
      try {
        response = await fetch(target, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        throw new CliError(`${held} but its admin API at ${url} did not answer (${describe(error)})`);
      }
      if (response.ok) return response;
      throw new CliError(await apiMessage(response));
    },
  };
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? String((error as Error).message ?? error);
}

/** The API's own one-line message, naming the token variable when it was the token that failed. */
async function apiMessage(response: Response): Promise<string> {
  const text = await response.text();
  let message = `the hub's admin API answered ${response.status}`;
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    if (body.error?.message) message = body.error.message;
  } catch {
    // not the error envelope; the status says enough
  }
  if (response.status === 401)
    return `the hub refused the operator token (MDHUB_OPERATOR_TOKEN or MDHUB_ADMIN_TOKEN): ${message}`;
  if (response.status === 403) return `the operator token may not do this: ${message}`;
  return message;
}
