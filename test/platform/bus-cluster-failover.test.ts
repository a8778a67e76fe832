/**
 * The Redis bus across a Redis Cluster master failover (CLUSTER FAILOVER on a replica), on a
 * 3-master cluster with a replica each of this file's own: ticks, work entries and control messages
 * published throughout; nothing acknowledged is lost, readers keep reading on the same bus, and
 * the control subscriber is told of the loss and the resync or keeps delivering.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bus, openBus } from '../../platform/bus/index.js';
import { clusterUnavailable, RedisCluster } from '../../testing/redis-cluster.js';

const NO_CLUSTER = clusterUnavailable();
const PREFIX = `mdhub-failover-${process.pid}`;
const SHARDS = 16;
let cluster: RedisCluster | undefined;

beforeAll(async () => {
  if (NO_CLUSTER === undefined) cluster = await RedisCluster.start({ masters: 3, replicasPerMaster: 1 });
}, 60_000);

afterAll(async () => {
  await cluster?.stop();
});

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe.skipIf(NO_CLUSTER !== undefined)(
  `redis cluster bus across a master failover ${NO_CLUSTER ?? ''}`,
  () => {
    it('spreads the tick shards over every master', async () => {
      const c = cluster as RedisCluster;
      const masters = await Promise.all(
        Array.from({ length: SHARDS }, (_, n) => c.masterIndexOf(`${PREFIX}:ticks:{${n}}`)),
      );
      const perMaster = [0, 1, 2].map((m) => masters.filter((index) => index === m).length);
      for (const count of perMaster) expect(count).toBeGreaterThan(0);
    });

    it('loses nothing acknowledged, keeps reading, and resyncs or keeps delivering control', async () => {
      const c = cluster as RedisCluster;
      const bus: Bus = await openBus({ clusterUrls: c.urls, prefix: PREFIX, shards: SHARDS });
      // The loops below end with the test whatever its outcome: left running on a closed bus, the
      // tick loop would spin on reads answered at once and starve the worker (it hung CI once).
      let publishing = true;
      let reading = true;
      try {
        const reader = bus.ticks.reader({ from: 'latest' });
        const work = bus.work('usage');
        await work.ensureGroup('meters');
        const consumer = work.consumer('meters', 'm1');
        const control: string[] = [];
        const calls: string[] = [];
        /**
         * Control messages acknowledged, each with the number of resyncs before its publish began.
         * A resync resumes from the stream's end as it reads it then, and the subscriber reloads
         * its state for what came before; so only a message whose publish began after the last
         * resync must arrive. (One begun before it may be in the stream before the resumed position
         * and still be acknowledged after the resync: counting by acknowledgement timed out CI once.)
         */
        let resyncs = 0;
        const controlAcked: { n: string; resyncsBefore: number }[] = [];
        await bus.control.subscribe((message) => control.push(String(message.n)), {
          onDisconnect: () => calls.push('disconnect'),
          onResync: () => {
            calls.push('resync');
            resyncs++;
          },
        });

        const ticksAcked: string[] = [];
        const workAcked: string[] = [];
        let publishFailures = 0;
        const publisher = (async () => {
          for (let n = 0; publishing; n++) {
            const batch = [{ shard: n % SHARDS, payload: Buffer.from(`t${n}`) }];
            const resyncsBefore = resyncs;
            const results = await Promise.allSettled([
              bus.ticks.publish(batch),
              work.add([`w${n}`]),
              n % 10 === 0 ? bus.control.publish({ type: 'tick', n }) : Promise.resolve(),
            ]);
            if (results[0].status === 'fulfilled') ticksAcked.push(`t${n}`);
            if (results[1].status === 'fulfilled') workAcked.push(`w${n}`);
            if (results[2].status === 'fulfilled' && n % 10 === 0)
              controlAcked.push({ n: String(n), resyncsBefore });
            publishFailures += results.filter((r) => r.status === 'rejected').length;
            await sleep(2);
          }
        })();

        const ticksRead: string[] = [];
        const workRead = new Set<string>();
        const tickLoop = (async () => {
          while (reading) {
            for (const entry of await reader.next({ count: 100, blockMs: 200 }))
              ticksRead.push(entry.payload.toString());
          }
        })();
        const workLoop = (async () => {
          while (reading) {
            const entries = await consumer.read({ count: 100, blockMs: 200 }).catch(() => []);
            // A read refused at once must not spin this loop on promises alone (timers starve).
            if (entries.length === 0) await sleep(5);
            for (const entry of entries) workRead.add(entry.payload.toString());
            if (entries.length > 0) await consumer.ack(entries.map((e) => e.id)).catch(() => 0);
          }
        })();

        await until(() => ticksRead.length > 50 && workRead.size > 50, 'traffic before the failover');
        const controlMaster = await c.masterIndexOf(`${PREFIX}:control`);
        const workMaster = await c.masterIndexOf(`${PREFIX}:work:{usage}`);
        await c.failover(controlMaster);
        if (workMaster !== controlMaster) await c.failover(workMaster);
        const afterFailover = ticksAcked.length;
        await until(() => ticksAcked.length > afterFailover + 100, 'publishing after the failover');
        publishing = false;
        await publisher;

        await until(() => ticksRead.length >= ticksAcked.length, 'every acknowledged tick read');
        await until(() => workAcked.every((w) => workRead.has(w)), 'every acknowledged work entry read');
        const expectedControl = () => controlAcked.filter((m) => m.resyncsBefore === resyncs).map((m) => m.n);
        await until(
          () => expectedControl().every((n) => control.includes(n)),
          'every control message since the last resync',
        );
        reading = false;
        await Promise.all([tickLoop, workLoop]);

        expect(new Set(ticksRead).size).toBe(ticksRead.length);
        expect(ticksAcked.every((t) => ticksRead.includes(t))).toBe(true);
        // Every disconnect is followed by a resync, in that order.
        expect(calls.filter((call) => call === 'disconnect').length).toBe(
          calls.filter((call) => call === 'resync').length,
        );
        expect(calls.join(',')).toMatch(/^(disconnect,resync,?)*$/);
        expect(await bus.health()).toEqual({ ok: true, detail: 'redis cluster' });
        console.log(
          `failover of masters ${[...new Set([controlMaster, workMaster])].join(' and ')}: ${ticksAcked.length} ticks, ${workAcked.length} work entries, ${controlAcked.length} control messages acknowledged; ${publishFailures} publishes refused; control calls: ${calls.join(',') || 'none'}`,
        );
      } finally {
        publishing = false;
        reading = false;
        await bus.close();
      }
    }, 90_000);
  },
);
