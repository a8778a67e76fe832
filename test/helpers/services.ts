import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';

/** The real services every machine (and CI) runs; tests never mock them. */
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A name no other test file or run uses: a Redis key prefix or a PostgreSQL schema. */
export function uniqueName(label: string): string {
  return `${label}${runTag()}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase();
}

/** `_r<run>` inside `npm test` (test/global-setup.ts drops the run's schemas at its end). */
export function runTag(): string {
  const run = process.env.MDHUB_TEST_RUN;
  return run ? `_r${run}` : '';
}

/** Deletes every Redis key under `prefix` (the test's own keys only). */
export async function cleanupRedisPrefix(prefix: string): Promise<void> {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  try {
    const keys: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 1000 })) keys.push(...batch);
    if (keys.length) await client.del(keys);
  } finally {
    client.destroy();
  }
}

/**
 * Kills the Redis connections named `name` (CLIENT KILL), as a network cut or a Redis restart
 * would for those connections only; returns how many there were.
 */
export async function killRedisConnections(name: string): Promise<number> {
  const admin = await createClient({ url: REDIS_URL }).connect();
  try {
    const list = await admin.sendCommand<string>(['CLIENT', 'LIST']);
    const ids = list
      .split('\n')
      .filter((line) => line.includes(` name=${name} `))
      .map((line) => /^id=(\d+)/.exec(line)?.[1])
      .filter((id): id is string => id !== undefined);
    for (const id of ids) await admin.sendCommand(['CLIENT', 'KILL', 'ID', id]);
    return ids.length;
  } finally {
    await admin.close();
  }
}
