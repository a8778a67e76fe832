import { describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../../config/env.js';
import { ConfigError, parseEnv } from '../../config/index.js';

describe('environment', () => {
  it('gives the embedded defaults when nothing is set', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      PORT: 8080,
      HOST: '0.0.0.0',
      MDHUB_DATA_DIR: './data',
      POLYGON_WS_URL: 'wss://socket.polygon.io',
      POLYGON_SUBSCRIPTIONS: 'T.*,Q.*',
    });
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.POLYGON_API_KEY).toBeUndefined();
  });

  it('treats an empty variable as unset', () => {
    expect(parseEnv({ PORT: '' }).PORT).toBe(8080);
  });

  it('parses the scaled settings', () => {
    const env = parseEnv({
      PORT: '9000',
      REDIS_URL: 'redis://10.0.0.1:6379',
      DATABASE_URL: 'postgres://u@db/mdhub',
      MDHUB_DELAY_MS: '1500',
    });
    expect(env).toMatchObject({ PORT: 9000, REDIS_URL: 'redis://10.0.0.1:6379', MDHUB_DELAY_MS: 1500 });
  });

  it('sizes the ingest feed lease at 750 ms by default, within 300–60 000 ms', () => {
    expect(parseEnv({}).MDHUB_INGEST_LEASE_MS).toBe(750);
    expect(parseEnv({ MDHUB_INGEST_LEASE_MS: '2000' }).MDHUB_INGEST_LEASE_MS).toBe(2_000);
    expect(() => parseEnv({ MDHUB_INGEST_LEASE_MS: '100' })).toThrow(/MDHUB_INGEST_LEASE_MS/);
    expect(() => parseEnv({ MDHUB_INGEST_LEASE_MS: '60001' })).toThrow(/MDHUB_INGEST_LEASE_MS/);
  });

  it('reads the WebSocket keepalive and compression settings, compression off by default', () => {
    expect(parseEnv({})).toMatchObject({ MDHUB_WS_PING_MS: 15_000, MDHUB_WS_DEFLATE: false });
    expect(parseEnv({ MDHUB_WS_PING_MS: '5000', MDHUB_WS_DEFLATE: 'true' })).toMatchObject({
      MDHUB_WS_PING_MS: 5_000,
      MDHUB_WS_DEFLATE: true,
    });
    expect(() => parseEnv({ MDHUB_WS_DEFLATE: 'yes' })).toThrow(
      /MDHUB_WS_DEFLATE must be one of true, false/,
    );
  });

  it('names the variable and the problem in one line for PORT=abc', () => {
    expect(() => parseEnv({ PORT: 'abc' })).toThrow(ConfigError);
    expect(() => parseEnv({ PORT: 'abc' })).toThrow(
      /^invalid environment: PORT must be a whole number from 0 to 65535 \(got "abc"\)$/,
    );
  });

  it('refuses a malformed REDIS_URL without echoing it', () => {
    let message = '';
    try {
      parseEnv({ REDIS_URL: 'http://secret-host:6379' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/REDIS_URL must be a Redis URL/);
    expect(message).not.toContain('secret-host');
    expect(message).not.toContain('\n');
  });

  it('reads REDIS_CLUSTER_URLS as a list of seed nodes', () => {
    const env = parseEnv({ REDIS_CLUSTER_URLS: 'redis://10.0.0.1:7000, redis://10.0.0.2:7001,' });
    expect(env.REDIS_CLUSTER_URLS).toEqual(['redis://10.0.0.1:7000', 'redis://10.0.0.2:7001']);
    expect(env.REDIS_URL).toBeUndefined();
  });

  it('refuses a malformed REDIS_CLUSTER_URLS without echoing it', () => {
    for (const value of ['redis://secret-host:7000,http://secret-host:7001', ' , ']) {
      expect(() => parseEnv({ REDIS_CLUSTER_URLS: value })).toThrow(
        /^invalid environment: REDIS_CLUSTER_URLS must be a comma-separated list of Redis URLs, such as [^\n]*$/,
      );
      expect(() => parseEnv({ REDIS_CLUSTER_URLS: value })).not.toThrow(/secret-host/);
    }
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_URLS together', () => {
    expect(() =>
      parseEnv({ REDIS_URL: 'redis://10.0.0.1:6379', REDIS_CLUSTER_URLS: 'redis://10.0.0.1:7000' }),
    ).toThrow(/^invalid environment: REDIS_CLUSTER_URLS must not be set together with REDIS_URL/);
  });

  it('lists every bad variable at once', () => {
    expect(() =>
      parseEnv({ PORT: '70000', DATABASE_URL: 'mysql://x', POLYGON_SUBSCRIPTIONS: 'AAPL' }),
    ).toThrow(/PORT .*; DATABASE_URL .*; POLYGON_SUBSCRIPTIONS /);
  });

  it('never shows a secret value in an error', () => {
    expect(() => parseEnv({ MDHUB_ADMIN_TOKEN: 'short-secret' })).toThrow(
      /MDHUB_ADMIN_TOKEN must be at least 24/,
    );
    expect(() => parseEnv({ MDHUB_ADMIN_TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
  });

  it("says what is wrong with every variable in a sentence, never in the validation library's words", () => {
    const bad = ['x', '99999999999999999', 'a'.repeat(600), '-1', 'ftp://host', 'two words'];
    let failures = 0;
    for (const name of ENV_VARIABLES) {
      for (const value of bad) {
        try {
          parseEnv({ [name]: value });
        } catch (error) {
          failures++;
          const message = (error as Error).message;
          expect(message, `${name}=${value}`).toMatch(new RegExp(`^invalid environment: ${name} must `));
          expect(message, `${name}=${value}`).not.toMatch(/expected|Invalid|Too (big|small)/);
        }
      }
    }
    expect(failures).toBeGreaterThan(ENV_VARIABLES.length);
  });
});
