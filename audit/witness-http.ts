import type { CheckpointStore } from './checkpoint-store.js';

/** How long one witness request may take before it counts as a failure (default 5 s). */
export const WITNESS_TIMEOUT_MS = 5_000;

/**
 * An HTTP witness, the protocol of docs/audit.md: `POST <url>` with one checkpoint as a JSON
 * body stores it (any 2xx means kept; the witness must keep every line it accepts and never
 * remove one), and `GET <url>` answers every checkpoint it holds as JSON lines, oldest first.
 * Credentials in the URL (`https://user:pass@…`) are sent as basic authentication and never shown.
 */
export function httpWitness(url: string, timeoutMs = WITNESS_TIMEOUT_MS): CheckpointStore {
  const parsed = new URL(url);
  const headers: Record<string, string> = {};
  if (parsed.username !== '' || parsed.password !== '') {
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    parsed.username = '';
    parsed.password = '';
  }
  const target = parsed.toString();
  const request = async (init: RequestInit): Promise<Response> => {
    let response: Response;
    try {
      response = await fetch(target, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new Error(`MDHUB_AUDIT_WITNESS_URL ${target} is unreachable: ${(error as Error).message}`, {
        cause: error,
      });
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`MDHUB_AUDIT_WITNESS_URL ${target} answered ${response.status} to ${init.method}`);
    }
    return response;
  };
  return {
    variable: 'MDHUB_AUDIT_WITNESS_URL',
    where: target,
    async append(line) {
      const response = await request({
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: line,
      });
      await response.body?.cancel();
    },
    async *lines() {
      const response = await request({ method: 'GET', headers: { ...headers, accept: 'application/jsonl' } });
      yield* (await response.text()).split('\n');
    },
  };
}
