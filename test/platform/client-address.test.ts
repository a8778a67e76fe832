import { describe, expect, it } from 'vitest';
import { ConfigError, parseEnv } from '../../config/index.js';
import { ClientAddresses } from '../../platform/http/client-address.js';

describe('client address', () => {
  const behindProxy = new ClientAddresses(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);

  it('is the peer when no proxy is trusted, whatever the headers claim', () => {
    const none = new ClientAddresses();
    expect(none.of('10.1.2.3', { 'x-forwarded-for': '198.51.100.1' })).toBe('10.1.2.3');
    expect(none.of('::ffff:10.1.2.3', {})).toBe('10.1.2.3');
  });

  it('ignores the headers of a peer that is not a trusted proxy', () => {
    expect(behindProxy.of('203.0.113.9', { 'x-forwarded-for': '198.51.100.1' })).toBe('203.0.113.9');
  });

  it('is the rightmost hop of X-Forwarded-For that is not a trusted proxy', () => {
    const headers = { 'x-forwarded-for': '1.1.1.1, 198.51.100.1, 10.9.9.9' };
    expect(behindProxy.of('::ffff:192.0.2.7', headers)).toBe('198.51.100.1');
    expect(behindProxy.of('10.0.0.1', { 'x-forwarded-for': ['198.51.100.2:4711', '10.2.2.2'] })).toBe(
      '198.51.100.2',
    );
  });

  it('reads Forwarded for= when there is no X-Forwarded-For, brackets and ports removed', () => {
    const forwarded = 'for=198.51.100.3;proto=https, for="[2001:db8::1]:4711";by=10.0.0.1';
    expect(behindProxy.of('10.0.0.1', { forwarded })).toBe('2001:db8::1');
  });

  it('stops at the proxy that wrote a hop that is not an address', () => {
    expect(behindProxy.of('10.0.0.1', { 'x-forwarded-for': '198.51.100.4, unknown, 10.0.0.2' })).toBe(
      '10.0.0.2',
    );
    expect(behindProxy.of('10.0.0.1', { 'x-forwarded-for': '' })).toBe('10.0.0.1');
  });

  it('MDHUB_TRUSTED_PROXIES takes IPs and CIDR blocks and refuses anything else, naming the variable', () => {
    expect(parseEnv({}).MDHUB_TRUSTED_PROXIES).toEqual([]);
    expect(
      parseEnv({ MDHUB_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.7,fd00::/8' }).MDHUB_TRUSTED_PROXIES,
    ).toEqual(['10.0.0.0/8', '192.0.2.7', 'fd00::/8']);
    expect(() => parseEnv({ MDHUB_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(ConfigError);
    expect(() => parseEnv({ MDHUB_TRUSTED_PROXIES: 'proxy.internal' })).toThrow(/MDHUB_TRUSTED_PROXIES/);
  });
});
