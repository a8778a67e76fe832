/**
 * The REST benchmark's load generator, in a worker thread of its own so its request building and
 * parsing are not charged to the edge: `concurrency` keep-alive connections each sending GETs of
 * `path` back to back for `ms`, counting 200 answers.
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadJob {
  port: number;
  path: string;
  concurrency: number;
  ms: number;
}

async function load(job: LoadJob): Promise<{ ok: number; failed: number; seconds: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  let ok = 0;
  let failed = 0;
  const started = performance.now();
  const until = started + job.ms;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: job.port, path: job.path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) ok++;
          else failed++;
          resolve();
        });
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: job.concurrency }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  const seconds = (performance.now() - started) / 1_000;
  agent.destroy();
  return { ok, failed, seconds };
}

if (parentPort !== null) {
  const port = parentPort;
  void load(workerData as LoadJob).then((result) => port.postMessage(result));
}
