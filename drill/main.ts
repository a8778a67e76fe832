/**
 * `npm run drill`: the scaled deployment as real processes, at market load, faults injected while
 * data flows, every check against the client logs. Prints the table and writes bench/drill.json
 * (bench/drill-single-redis.json with `--single-redis`); exits 1 when any check failed.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../config/index.js';
import { clusterUnavailable, privatePostgresUnavailable } from '../testing/index.js';
import { formatResult } from './result.js';
import { runDrill } from './run.js';

const HELP = `usage: npm run drill -- [options]

The scaled deployment as real processes (one api, two ingest, two edge, two meter), on a Redis
Cluster of the drill's own (3 masters, a replica each) and a PostgreSQL of its own, at market
load; faults while data flows; every check against the client logs. See docs/drill.md.

  --clients N              honest clients, besides the two watchers (default 1000)
  --symbols N              vendor symbols, spread over tapes A, B and C (default 1000)
  --rate N                 vendor events per second (default 20000)
  --phase-ms N             data flowing before the first fault and after each one (default 8000)
  --single-redis           one redis-server instead of the cluster; its fault is a restart
                           instead of the master failover (writes bench/drill-single-redis.json)
  --redis-persistence aof|none
                           the single Redis keeps its data across the restart (aof, default) or
                           loses it (none: what a deployment must avoid; prints only)
  -h, --help               this text
`;

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    symbols: { type: 'string', default: '1000' },
    'phase-ms': { type: 'string', default: '8000' },
    rate: { type: 'string', default: '20000' },
    'single-redis': { type: 'boolean', default: false },
    'redis-persistence': { type: 'string', default: 'aof' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const number = (name: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};

async function main(): Promise<number> {
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const persistence = values['redis-persistence'];
  if (persistence !== 'aof' && persistence !== 'none')
    throw new Error('--redis-persistence must be aof or none');
  const single = values['single-redis'] === true;
  if (!single && persistence !== 'aof')
    throw new Error('--redis-persistence is for the single Redis: add --single-redis');
  const missing = single ? undefined : clusterUnavailable();
  if (missing !== undefined)
    throw new Error(
      `the drill's Redis Cluster needs redis-server and redis-cli (${missing}); or --single-redis`,
    );
  const result = await runDrill({
    clients: number('clients', values.clients),
    symbolsPerTape: Math.ceil(number('symbols', values.symbols) / 3),
    eventsPerSecond: number('rate', values.rate),
    delayMs: 3_000,
    flushMs: 1_000,
    phaseMs: number('phase-ms', values['phase-ms']),
    flipEveryMs: 400,
    switchWindowMs: 1_000,
    // The lost-notice bound is twice this: 1 000 ms, the leak rule's window, everywhere.
    verifyMs: 500,
    redis: single ? 'single' : 'cluster',
    redisPersistence: persistence,
    // A server of the drill's own, which it may restart; a shared one only when asked, or when none can be started.
    postgresUrl:
      process.env.TEST_DATABASE_URL ??
      (privatePostgresUnavailable() ? 'postgres://postgres@127.0.0.1:5432/test' : undefined),
    log: (line) => process.stderr.write(`drill: ${line}\n`),
    keepLogsOnFailure: true,
  });
  // The figures of record are the deployments as documented; a Redis that loses its data only prints.
  if (persistence === 'aof')
    writeFileSync(
      join(packageRoot(), 'bench', single ? 'drill-single-redis.json' : 'drill.json'),
      `${JSON.stringify(result, null, 2)}\n`,
    );
  process.stdout.write(`${formatResult(result)}\n`);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`drill: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
