/**
 * The cost of permessage-deflate (`MDHUB_WS_DEFLATE`), `npm run bench -- deflate`: the fan-out of
 * bench/distribution.ts through one edge with deflate enabled, once with clients that do not ask for
 * it (plain frames, as with deflate off) and once with clients that all negotiate it. The edge
 * compresses every frame here (threshold 0), the most CPU deflate can cost it.
 *
 * - `deflate_bytes_ratio`: bytes the deflate clients' sockets read over the bytes of the frames
 *   they decoded (WebSocket headers included, so plain frames come out slightly above 1).
 * - `deflate_fanout_frames_per_s` and `deflate_off_fanout_frames_per_s`: frames received per
 *   second with and without it, medians of the runs; `deflate_fanout_ratio` is the first over the second.
 */
import { randomBytes } from 'node:crypto';
import { benchUser, ClientsProcess, dropBenchSchema, edgeFanout, startBenchHub } from './distribution.js';
import { type Figures, median, type Section } from './figures.js';

/** Fewer rounds than the fan-out bench's 400: what deflate has not sent yet waits in memory. */
const ROUNDS = 100;

export const deflateSection: Section = {
  name: 'deflate',
  async run(): Promise<Figures> {
    const schema = `bench_deflate_${randomBytes(4).toString('hex')}`;
    const hub = await startBenchHub({
      redis: false,
      schema,
      prefix: 'unused',
      // Compressing is slower than publishing here: its queues grow, and the bench is about the
      // frames it gets out, not about closing clients as slow, so no socket is conflated or closed.
      edge: {
        deflate: true,
        deflateThresholdBytes: 0,
        bufferHighBytes: 1024 * 1024 * 1024,
        bufferMaxBytes: 2 * 1024 * 1024 * 1024,
      },
    });
    const clients = new ClientsProcess();
    try {
      const tokens = {
        rt: await benchUser(hub, 'bench-rt', true),
        dl: await benchUser(hub, 'bench-dl', false),
      };
      const plain = await edgeFanout(hub, clients, tokens, { rounds: ROUNDS });
      const deflated = await edgeFanout(hub, clients, tokens, { deflate: true, rounds: ROUNDS });
      const on = median(deflated.rates);
      const off = median(plain.rates);
      return {
        deflate_bytes_ratio: {
          value: deflated.wireBytes / deflated.payloadBytes,
          unit: 'ratio',
          goal: 'reported',
        },
        deflate_plain_bytes_ratio: {
          value: plain.wireBytes / plain.payloadBytes,
          unit: 'ratio',
          goal: 'baseline',
        },
        deflate_fanout_frames_per_s: { value: on, unit: 'frames/s', goal: 'reported' },
        deflate_off_fanout_frames_per_s: { value: off, unit: 'frames/s', goal: 'baseline' },
        deflate_fanout_ratio: { value: on / off, unit: 'ratio', goal: 'reported' },
      };
    } finally {
      await clients.stop();
      await hub.stop();
      await dropBenchSchema(schema);
    }
  },
};
