/**
 * The one mapping of the parsed environment to typed module options. Modules never read `Env`:
 * each takes an options object with its own documented defaults, and this file says which
 * variable sets which option (README lists the variables).
 */
import { join } from 'node:path';
import type { CheckpointOptions } from '../audit/index.js';
import { createStripeProvider, type PaymentProvider } from '../billing/index.js';
import type { Env } from '../config/index.js';
import { type EdgeOptions, type EdgeOverrides, edgeOptions } from '../distribution/index.js';
import type { IngestOptions } from '../ingest/index.js';
import type { DataSource } from '../platform/db/index.js';

/** Where the system of record is: `DATABASE_URL`, else PGlite under `MDHUB_DATA_DIR`. */
export function dataSource(env: Env): DataSource {
  return { url: env.DATABASE_URL, dataDir: env.MDHUB_DATA_DIR, connectRetryMs: env.MDHUB_CONNECT_RETRY_MS };
}

/** The vendor feed: Polygon when `POLYGON_API_KEY` is set, else the synthetic market. */
export function ingestOptions(
  env: Env,
): Pick<IngestOptions, 'polygon' | 'synthetic' | 'maxClockSkewMs' | 'lease'> {
  return {
    polygon:
      env.POLYGON_API_KEY === undefined
        ? undefined
        : { apiKey: env.POLYGON_API_KEY, url: env.POLYGON_WS_URL, subscriptions: env.POLYGON_SUBSCRIPTIONS },
    synthetic: { symbols: env.MDHUB_SYNTHETIC_SYMBOLS, rate: env.MDHUB_SYNTHETIC_RATE },
    maxClockSkewMs: env.MDHUB_MAX_CLOCK_SKEW_MS,
    lease: { ttlMs: env.MDHUB_INGEST_LEASE_MS },
  };
}

/** The edge's settings from the environment, with `overrides` on top (tests, the bench). */
export function edgeOptionsFromEnv(env: Env, overrides: EdgeOverrides = {}): EdgeOptions {
  return edgeOptions({
    edgeId: env.MDHUB_EDGE_ID,
    maxSymbols: env.MDHUB_MAX_SYMBOLS,
    restRate: env.MDHUB_REST_RATE,
    restBurst: env.MDHUB_REST_BURST,
    preauthSocketsPerAddress: env.MDHUB_PREAUTH_SOCKETS_PER_ADDRESS,
    trustedProxies: env.MDHUB_TRUSTED_PROXIES,
    defaultSessionLimit: env.MDHUB_SESSION_LIMIT,
    pingIntervalMs: env.MDHUB_WS_PING_MS,
    deflate: env.MDHUB_WS_DEFLATE,
    bufferMaxBytes: env.MDHUB_CLIENT_BUFFER_BYTES,
    delayLineBytes: env.MDHUB_DELAY_LINE_BYTES,
    usageFlushMs: env.MDHUB_USAGE_FLUSH_MS,
    spool: { dir: env.MDHUB_SPOOL_DIR ?? join(env.MDHUB_DATA_DIR, 'spool'), name: env.MDHUB_EDGE_ID },
    ...overrides,
    passthrough: {
      url: env.POLYGON_REST_URL,
      apiKey: env.POLYGON_API_KEY,
      aliasSecret: env.MDHUB_EDGE_ALIAS_SECRET,
      ...overrides.passthrough,
    },
  });
}

/** `MDHUB_AUDIT_DIR` (default `<MDHUB_DATA_DIR>/audit`), the key files and the witnesses. */
export function checkpointOptions(env: Env): CheckpointOptions {
  return {
    dir: env.MDHUB_AUDIT_DIR ?? join(env.MDHUB_DATA_DIR, 'audit'),
    keyFile: env.MDHUB_AUDIT_KEY_FILE,
    publicKeyFile: env.MDHUB_AUDIT_PUBLIC_KEY_FILE,
    witnessDir: env.MDHUB_AUDIT_WITNESS_DIR,
    witnessUrl: env.MDHUB_AUDIT_WITNESS_URL,
  };
}

/** Stripe when `STRIPE_SECRET_KEY` is set (at `STRIPE_API_URL` if given); otherwise none. */
export function paymentProvider(env: Env): PaymentProvider | undefined {
  if (!env.STRIPE_SECRET_KEY) return undefined;
  return createStripeProvider({ secretKey: env.STRIPE_SECRET_KEY, apiUrl: env.STRIPE_API_URL });
}
