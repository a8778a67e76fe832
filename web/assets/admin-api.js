/**
 * The admin API as the console calls it: the operator's token as a bearer header, JSON bodies, and
 * the hub's own error message (its envelope's `error.message`) on every failure.
 */

export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * `{ api, json }` over `token` (a tokenStore); `onUnauthorized` runs when the hub answers 401, so
 * the page can sign out before the failure reaches its caller.
 */
export function adminApi(token, onUnauthorized) {
  async function api(path, { method = 'GET', body } = {}) {
    const headers = { authorization: `Bearer ${token.get()}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.ok) return response;
    let code = 'http_error';
    let message = `the hub answered ${response.status}`;
    try {
      const envelope = await response.json();
      code = String(envelope.error?.code ?? code);
      message = String(envelope.error?.message ?? message);
    } catch {
      // Not the JSON envelope (a proxy's page, say): the status line is all there is to say.
    }
    if (response.status === 401) onUnauthorized();
    throw new ApiFailure(response.status, code, message);
  }
  const json = async (path, options) => (await api(path, options)).json();
  return { api, json };
}
