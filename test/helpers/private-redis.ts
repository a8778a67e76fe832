/**
 * A `redis-server` of a test's own, on a free port and without persistence: for tests that read
 * server-wide figures (INFO commandstats), which the shared Redis on 6379 mixes with every other
 * test's. Stopped (SIGTERM, then SIGKILL) by the test that started it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { freePort } from '../../testing/cli.js';

export class PrivateRedis {
  readonly url: string;
  readonly #child: ChildProcess;

  private constructor(port: number) {
    this.url = `redis://127.0.0.1:${port}`;
    this.#child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
  }

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const client = await createClient({ url: redis.url }).connect();
        await client.close();
        return redis;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await sleep(20);
      }
    }
  }

  /** Calls per command since the server started, from INFO commandstats (`hget`, `hmget`, …). */
  async commandCalls(): Promise<Map<string, number>> {
    const client = await createClient({ url: this.url }).connect();
    try {
      const text = await client.sendCommand<string>(['INFO', 'commandstats']);
      const calls = new Map<string, number>();
      for (const match of text.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) {
        calls.set(match[1] as string, Number(match[2]));
      }
      return calls;
    } finally {
      await client.close();
    }
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.kill('SIGTERM');
    const done = await Promise.race([exited.then(() => true), sleep(3_000, false)]);
    if (!done) this.#child.kill('SIGKILL');
  }
}
