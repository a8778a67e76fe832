/**
 * The vendor's REST API, called on behalf of one end user the way Polygon's Launchpad requires:
 * the broker's own key (`Authorization: Bearer`), and per request the user's stable alias
 * (`X-Polygon-Edge-ID`, 1–80 characters, which the vendor counts monthly active users by), the
 * user's IP address (`X-Polygon-Edge-IP-Address`) and, when the client sent one, its user agent
 * (`X-Polygon-Edge-User-Agent`). Nothing of the user's own request is forwarded but the path and
 * the query (without `apiKey`): no token, no cookie, no other header.
 *
 * The alias is an HMAC of the user id: opaque to the vendor, the same on every edge and in every
 * session, and never derived from a token (tokens are revoked and reissued; the person stays).
 */
import { createHash, createHmac } from 'node:crypto';

export interface VendorRestOptions {
  /** Base URL of the vendor's REST API (`POLYGON_REST_URL`, default `https://api.polygon.io`). */
  url: string;
  /** The broker's vendor key (`POLYGON_API_KEY`); none: the synthetic feed, nothing to call. */
  apiKey: string | undefined;
  /**
   * The secret the users' aliases are derived with (`MDHUB_EDGE_ALIAS_SECRET`). None: derived
   * from the vendor key, so aliases change if the key does.
   */
  aliasSecret: string | undefined;
  /** How long one vendor request may take, body included (default 10 000 ms): 504 after. */
  timeoutMs: number;
  /** Largest vendor answer accepted (default 32 MiB): 502 beyond. */
  maxBodyBytes: number;
}

/** The end user a vendor request is made for. */
export interface EdgeUser {
  userId: string;
  /** Their IP address as the edge sees it (behind trusted proxies, the one they name). */
  address: string;
  /** Their client's `User-Agent`, if it sent one. */
  userAgent?: string;
}

export interface VendorAnswer {
  status: number;
  body: string;
}

/** A vendor request that failed for reasons of the vendor's, answered 502 or 504. */
export class VendorFailure extends Error {
  override name = 'VendorFailure';
  constructor(
    readonly status: 502 | 504,
    readonly code: string,
    message: string,
    readonly details?: { vendorStatus?: number; vendorMessage?: string },
  ) {
    super(message);
  }
}

const ALIAS_CONTEXT = 'mdhub edge alias v1';
const MAX_USER_AGENT = 256;

/** The stable alias of a user for `X-Polygon-Edge-ID`: `u` and 32 hex digits of an HMAC of the id. */
export function edgeAlias(secret: string | Buffer, userId: string): string {
  return `u${createHmac('sha256', secret).update(userId).digest('hex').slice(0, 32)}`;
}

/** A header-safe user agent: printable ASCII only, at most 256 characters; undefined if nothing is left. */
function userAgentHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const clean = value
    .replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, MAX_USER_AGENT);
  return clean === '' ? undefined : clean;
}

/** The vendor's own words for a failure (`error` or `message` of its JSON), short and printable. */
export function vendorMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
    const text = typeof parsed.error === 'string' ? parsed.error : parsed.message;
    if (typeof text === 'string') return text.replace(/[^\x20-\x7e]/g, '').slice(0, 300);
  } catch {
    // Not JSON: the status says it all.
  }
  return undefined;
}

export class VendorRest {
  readonly options: VendorRestOptions;
  readonly #aliasKey: Buffer | string | undefined;

  constructor(options: VendorRestOptions) {
    this.options = options;
    this.#aliasKey =
      options.aliasSecret ??
      (options.apiKey === undefined
        ? undefined
        : createHash('sha256').update(`${ALIAS_CONTEXT}\0${options.apiKey}`).digest());
  }

  /** Whether there is a vendor to call (a key is set). */
  get configured(): boolean {
    return this.options.apiKey !== undefined;
  }

  /** The user's alias, as sent in `X-Polygon-Edge-ID`. */
  aliasOf(userId: string): string {
    if (this.#aliasKey === undefined) throw new Error('no vendor key: no alias');
    return edgeAlias(this.#aliasKey, userId);
  }

  /** The vendor's base URL's origin, to recognise its own links in answers. */
  get origin(): string {
    return new URL(this.options.url).origin;
  }

  /**
   * GETs `path` (with its query) for `user`. Any answer the vendor gives is returned, its status
   * included; throws VendorFailure when there is none (504 `vendor_timeout`, 502
   * `vendor_unreachable`, or 502 `vendor_answer_too_large`).
   */
  async get(path: string, user: EdgeUser): Promise<VendorAnswer> {
    const { apiKey, url, timeoutMs, maxBodyBytes } = this.options;
    if (apiKey === undefined) throw new Error('no vendor key');
    const headers: Record<string, string> = {
      authorization: `Bearer ${apiKey}`,
      accept: 'application/json',
      'user-agent': 'mdhub',
      'x-polygon-edge-id': this.aliasOf(user.userId),
    };
    if (user.address !== 'unknown') headers['x-polygon-edge-ip-address'] = user.address;
    const agent = userAgentHeader(user.userAgent);
    if (agent !== undefined) headers['x-polygon-edge-user-agent'] = agent;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const response = await fetch(`${url.replace(/\/+$/, '')}${path}`, {
        headers,
        signal,
        redirect: 'error',
      });
      const body = await readCapped(response, maxBodyBytes);
      if (body === undefined) {
        throw new VendorFailure(
          502,
          'vendor_answer_too_large',
          `The market-data vendor's answer exceeds ${maxBodyBytes} bytes; narrow the request (a smaller range or limit).`,
        );
      }
      return { status: response.status, body };
    } catch (error) {
      if (error instanceof VendorFailure) throw error;
      if (signal.aborted) {
        throw new VendorFailure(
          504,
          'vendor_timeout',
          `The market-data vendor did not answer within ${timeoutMs} ms; retry shortly.`,
        );
      }
      throw new VendorFailure(
        502,
        'vendor_unreachable',
        'The market-data vendor could not be reached; retry shortly.',
      );
    }
  }
}

/** The body as text, or undefined once it passes `max` bytes (the rest is not read). */
async function readCapped(response: Response, max: number): Promise<string | undefined> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
