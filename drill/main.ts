/**
 * `npm run drill`: the scaled deployment as real processes, faults injected while data flows,
 * every check against the client logs. Prints the table and writes bench/drill.json; exits 1 when
 * any check failed. Options: `--clients N`, `--phase-ms N`, `--rate N` (vendor events/s),
 * `--redis-persistence aof|none` (none: the restart loses Redis's data, what a deployment must avoid).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot } from '../config/index.js';
import { privatePostgresUnavailable } from '../testing/index.js';
import { formatResult } from './result.js';
import { runDrill } from './run.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '300' },
    'phase-ms': { type: 'string', default: '8000' },
    rate: { type: 'string', default: '300' },
    'redis-persistence': { type: 'string', default: 'aof' },
  },
});

const number = (name: string, text: string | undefined): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
};

async function main(): Promise<number> {
  const persistence = values['redis-persistence'];
  if (persistence !== 'aof' && persistence !== 'none')
    throw new Error('--redis-persistence must be aof or none');
  const result = await runDrill({
    clients: number('clients', values.clients),
    symbolsPerTape: 10,
    eventsPerSecond: number('rate', values.rate),
    delayMs: 3_000,
    flushMs: 1_000,
    phaseMs: number('phase-ms', values['phase-ms']),
    flipEveryMs: 400,
    switchWindowMs: 1_000,
    // The lost-notice bound is twice this: 1 000 ms, the leak rule's window, everywhere.
    verifyMs: 500,
    redisPersistence: persistence,
    // A server of the drill's own, which it may restart; a shared one only when asked, or when none can be started.
    postgresUrl:
      process.env.TEST_DATABASE_URL ??
      (privatePostgresUnavailable() ? 'postgres://postgres@127.0.0.1:5432/test' : undefined),
    log: (line) => process.stderr.write(`drill: ${line}\n`),
    keepLogsOnFailure: true,
  });
  // The figures of record are the deployment as documented; a variant run only prints.
  if (persistence === 'aof')
    writeFileSync(join(packageRoot(), 'bench', 'drill.json'), `${JSON.stringify(result, null, 2)}\n`);
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
