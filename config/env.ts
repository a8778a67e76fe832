import { isIP } from 'node:net';
import { z } from 'zod';

/** A URL with one of the given schemes; the message names what was expected, never the value. */
function urlWith(schemes: readonly string[], what: string) {
  return z.string().refine(
    (value) => {
      try {
        return schemes.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${what} URL (${schemes.map((s) => `${s}//…`).join(' or ')})` },
  );
}

const integer = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d+$/, { message })
    .transform(Number)
    .pipe(z.number().int({ message }).min(min, { message }).max(max, { message }));
};

/** One of `values`; the message lists them as a person would. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { message: `must be one of ${values.join(', ')}` });

/** Whether `entry` is an IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
function isAddressOrBlock(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** A comma-separated list of IPs and CIDR blocks; empty: none. */
const addressList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
  )
  .refine((entries) => entries.every(isAddressOrBlock), {
    message: 'must be a comma-separated list of IP addresses or CIDR blocks, such as 10.0.0.0/8,192.0.2.7',
  });

const nonEmpty = z.string().min(1, { message: 'must not be empty' });

function isRedisUrl(value: string): boolean {
  try {
    return ['redis:', 'rediss:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** Seed nodes of a Redis Cluster: a comma-separated list of Redis URLs, at least one. */
const redisUrlList = z
  .string()
  .transform((value) =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== ''),
  )
  .refine((urls) => urls.length > 0 && urls.every(isRedisUrl), {
    message:
      'must be a comma-separated list of Redis URLs, such as redis://10.0.0.1:7000,redis://10.0.0.2:7001',
  });

/**
 * Every environment variable mdhub reads, in one place. All are optional: with none set the hub
 * runs the embedded default (in-process bus, PGlite under ./data, synthetic feed).
 */
const schema = z.object({
  PORT: integer(0, 65535).default(8080),
  HOST: nonEmpty.default('0.0.0.0'),
  REDIS_URL: urlWith(['redis:', 'rediss:'], 'Redis').optional(),
  /** A Redis Cluster's seed nodes, instead of REDIS_URL (one node). */
  REDIS_CLUSTER_URLS: redisUrlList.optional(),
  DATABASE_URL: urlWith(['postgres:', 'postgresql:'], 'PostgreSQL').optional(),
  MDHUB_DATA_DIR: nonEmpty.default('./data'),
  MDHUB_ADMIN_TOKEN: z.string().min(24, { message: 'must be at least 24 characters' }).optional(),
  /** The operator token a command uses to reach a running hub's admin API; else MDHUB_ADMIN_TOKEN. */
  MDHUB_OPERATOR_TOKEN: z.string().max(512, { message: 'must be at most 512 characters' }).optional(),
  MDHUB_CATALOG: nonEmpty.optional(),
  MDHUB_LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MDHUB_DELAY_MS: integer(0, 86_400_000).optional(),
  MDHUB_SHARDS: integer(1, 1024).default(16),
  MDHUB_REDIS_PREFIX: nonEmpty.default('mdhub'),
  MDHUB_SYNTHETIC_RATE: integer(0, 10_000_000).default(2_000),
  MDHUB_SYNTHETIC_SYMBOLS: integer(1, 100_000).default(300),
  MDHUB_MAX_CLOCK_SKEW_MS: integer(0, 86_400_000).default(5_000),
  MDHUB_CONNECT_RETRY_MS: integer(0, 600_000).default(10_000),
  MDHUB_SESSION_LIMIT: integer(1, 1000).default(2),
  MDHUB_METER_CLAIM_MS: integer(200, 600_000).default(4_000),
  MDHUB_INGEST_LEASE_MS: integer(300, 60_000).default(750),
  MDHUB_WS_PING_MS: integer(100, 600_000).default(15_000),
  MDHUB_WS_DEFLATE: oneOf(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  MDHUB_ENTITLEMENT_VERIFY_MS: integer(50, 60_000).default(1_000),
  MDHUB_EDGE_ID: z
    .string()
    .regex(/^[\w.-]{1,80}$/, { message: 'must be 1-80 of A-Za-z0-9._-' })
    .optional(),
  MDHUB_MAX_SYMBOLS: integer(1, 100_000).default(1_000),
  MDHUB_TRUSTED_PROXIES: addressList.default([]),
  MDHUB_PREAUTH_SOCKETS_PER_ADDRESS: integer(1, 100_000).default(20),
  MDHUB_CLIENT_BUFFER_BYTES: integer(65_536, 1_073_741_824).default(4_194_304),
  MDHUB_DELAY_LINE_BYTES: integer(1_048_576, 68_719_476_736).default(134_217_728),
  MDHUB_USAGE_FLUSH_MS: integer(1_000, 3_600_000).default(60_000),
  MDHUB_SPOOL_DIR: nonEmpty.optional(),
  MDHUB_SESSION_SWEEP_MS: integer(100, 3_600_000).default(15_000),
  MDHUB_REST_RATE: integer(1, 100_000).default(20),
  MDHUB_REST_BURST: integer(1, 1_000_000).default(40),
  MDHUB_HTTP_HEADERS_TIMEOUT_MS: integer(100, 600_000).default(10_000),
  MDHUB_HTTP_REQUEST_TIMEOUT_MS: integer(100, 3_600_000).default(30_000),
  MDHUB_HTTP_PENDING_PER_CLIENT: integer(1, 1_000_000).default(256),
  MDHUB_AUDIT_KEY_FILE: nonEmpty.optional(),
  MDHUB_AUDIT_DIR: nonEmpty.optional(),
  MDHUB_AUDIT_PUBLIC_KEY_FILE: nonEmpty.optional(),
  MDHUB_AUDIT_WITNESS_DIR: nonEmpty.optional(),
  MDHUB_AUDIT_WITNESS_URL: urlWith(['http:', 'https:'], 'HTTP').optional(),
  MDHUB_AUDIT_CHECKPOINT_MS: integer(1_000, 86_400_000).default(60_000),
  MDHUB_PRICES: nonEmpty.optional(),
  MDHUB_BILLING_GRACE_MS: integer(0, 90 * 86_400_000).default(3 * 86_400_000),
  POLYGON_API_KEY: nonEmpty.optional(),
  POLYGON_WS_URL: urlWith(['ws:', 'wss:'], 'WebSocket').default('wss://socket.polygon.io'),
  POLYGON_SUBSCRIPTIONS: z
    .string()
    .regex(/^[A-Z]{1,4}\.[A-Za-z0-9.*-]+(,[A-Z]{1,4}\.[A-Za-z0-9.*-]+)*$/, {
      message: 'must be a comma-separated list like T.*,Q.*,LULD.* or T.AAPL,Q.AAPL',
    })
    .default('T.*,Q.*'),
  POLYGON_REST_URL: urlWith(['http:', 'https:'], 'HTTP').default('https://api.polygon.io'),
  /** Derives the users' aliases sent to the vendor (X-Polygon-Edge-ID); unset: from POLYGON_API_KEY. */
  MDHUB_EDGE_ALIAS_SECRET: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  STRIPE_SECRET_KEY: nonEmpty.optional(),
  STRIPE_WEBHOOK_SECRET: nonEmpty.optional(),
  STRIPE_API_URL: urlWith(['http:', 'https:'], 'HTTP').optional(),
});

/** One Redis or a Redis Cluster, never both: which one would be used is nobody's guess. */
const checked = schema.superRefine((env, ctx) => {
  if (env.REDIS_URL !== undefined && env.REDIS_CLUSTER_URLS !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_CLUSTER_URLS'],
      message: 'must not be set together with REDIS_URL: set one (a Redis Cluster, or one Redis node)',
    });
});

export type Env = z.infer<typeof schema>;

/** The name of every variable `parseEnv` reads. */
export const ENV_VARIABLES: readonly string[] = Object.keys(schema.shape);

/** Variables whose values are secrets: never echoed, not even in an error. */
const SECRET = new Set([
  'MDHUB_ADMIN_TOKEN',
  'MDHUB_OPERATOR_TOKEN',
  'POLYGON_API_KEY',
  'MDHUB_EDGE_ALIAS_SECRET',
  'STRIPE_SECRET_KEY',
  'STRIPE_WEBHOOK_SECRET',
  'DATABASE_URL',
  'REDIS_URL',
  'REDIS_CLUSTER_URLS',
]);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment once. An empty string counts as unset, so `PORT= npm start` behaves
 * like no PORT at all. Throws a `ConfigError` whose message is one readable line naming every bad
 * variable.
 */
export function parseEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const present: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = source[key];
    if (value !== undefined && value !== '') present[key] = value;
  }
  const result = checked.safeParse(present);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? 'environment');
    const shown =
      SECRET.has(name) || present[name] === undefined ? '' : ` (got ${JSON.stringify(present[name])})`;
    return `${name} ${issue.message}${shown}`;
  });
  throw new ConfigError(`invalid environment: ${problems.join('; ')}`);
}
