import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out wherever they appear: tokens, keys and secrets never reach a log line,
 * even when a caller logs a whole config or request object by mistake.
 */
const REDACT = [
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'adminToken',
  '*.adminToken',
  'polygonApiKey',
  '*.polygonApiKey',
  'stripeSecretKey',
  '*.stripeSecretKey',
  'stripeWebhookSecret',
  '*.stripeWebhookSecret',
  'databaseUrl',
  '*.databaseUrl',
  'redisUrl',
  '*.redisUrl',
];

export interface LoggerOptions {
  /** pino level (default `info`; `silent` in tests). */
  level?: string;
  /** Where lines go (default stdout). */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'mdhub',
      level: options.level ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/** A logger that writes nothing: the default for library code and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
