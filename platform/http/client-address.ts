/**
 * The address of the client behind a request. A socket's peer is the client unless it is one of
 * the operator's trusted proxies (`MDHUB_TRUSTED_PROXIES`, IPs or CIDRs; none by default, so no
 * header is believed): then the client is the rightmost hop of `X-Forwarded-For` (or, without
 * it, `Forwarded: for=`) that is not itself a trusted proxy. Hops left of it were written by the
 * client and prove nothing; a hop that is not an address ends the walk at the proxy that wrote it.
 *
 * Used wherever the edge keys a limit on "the client" (failed authentications on `/stocks` and
 * REST, unauthenticated sockets), so that behind a load balancer one client is never everyone.
 */
import { BlockList, isIP } from 'node:net';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';

type Header = string | readonly string[] | undefined;

export interface ForwardingHeaders {
  'x-forwarded-for'?: Header;
  forwarded?: Header;
}

export class ClientAddresses {
  readonly #trusted = new BlockList();
  readonly #any: boolean;

  /** `trusted`: the proxies whose forwarding headers are believed, as IPs or CIDR blocks. */
  constructor(trusted: readonly string[] = []) {
    for (const entry of trusted) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = isIP(address);
      if (family === 0) throw new RangeError(`not an IP address or CIDR block: ${entry}`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) this.#trusted.addAddress(address, type);
      else this.#trusted.addSubnet(address, Number(bits), type);
    }
    this.#any = trusted.length > 0;
  }

  /** The client's address for a connection from `peer` carrying these headers. */
  of(peer: string | undefined, headers: ForwardingHeaders): string {
    const from = plain(peer ?? '') ?? 'unknown';
    if (!this.#any || !this.#trusts(from)) return from;
    const hops = forwardedFor(headers);
    let client = from;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = plain(hops[i] as string);
      if (hop === undefined) break;
      client = hop;
      if (!this.#trusts(hop)) break;
    }
    return client;
  }

  #trusts(address: string): boolean {
    return this.#trusted.check(address, isIP(address) === 4 ? 'ipv4' : 'ipv6');
  }
}

/** The hops of `X-Forwarded-For`, else of `Forwarded`'s `for=` parameters, left to right. */
function forwardedFor(headers: ForwardingHeaders): string[] {
  const xff = joined(headers['x-forwarded-for']);
  if (xff !== undefined) return xff.split(',');
  const forwarded = joined(headers.forwarded);
  if (forwarded === undefined) return [];
  const hops: string[] = [];
  for (const element of forwarded.split(',')) {
    const pair = element
      .split(';')
      .map((part) => part.trim())
      .find((part) => part.toLowerCase().startsWith('for='));
    // An element without `for=` still is a hop, of an unknown address: it ends the walk.
    hops.push(pair === undefined ? '' : pair.slice(4));
  }
  return hops;
}

function joined(header: Header): string | undefined {
  if (header === undefined) return undefined;
  return typeof header === 'string' ? header : header.join(',');
}

/**
 * An address as written by a peer or a proxy, without quotes, brackets, port or the IPv4-mapped
 * IPv6 prefix; undefined when it is not an address (`unknown`, an obfuscated `_hidden`).
 */
function plain(text: string): string | undefined {
  let value = text.trim().replace(/^"(.*)"$/, '$1');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(value);
  if (bracketed) value = bracketed[1] as string;
  else if (/^[\d.]+:\d+$/.test(value)) value = value.slice(0, value.lastIndexOf(':'));
  if (value.toLowerCase().startsWith('::ffff:') && isIP(value.slice(7)) === 4) value = value.slice(7);
  return isIP(value) === 0 ? undefined : value;
}

/** The client behind a Hono request on the node server: its socket's peer and forwarding headers. */
export function requestClientAddress(c: Context, addresses: ClientAddresses): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    peer = undefined;
  }
  return addresses.of(peer, {
    'x-forwarded-for': c.req.header('x-forwarded-for'),
    forwarded: c.req.header('forwarded'),
  });
}
