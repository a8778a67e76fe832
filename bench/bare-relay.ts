/**
 * The floor the edge's latency is measured against: the least a relay from the tick streams to
 * WebSocket clients can do. It reads the same Redis streams with the same reader the edge uses
 * (a blocking read, then what else is waiting), and per read sends each socket one frame of the
 * events on its channels, as the publisher encoded them. No entitlement, no delay line, no metering, no limits: what is left is the machine, Redis,
 * the `ws` library and the clients. It speaks just enough of the client protocol for the bench's
 * clients (an `auth` answered with `auth_success`, one `success` per subscribed channel).
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { decodeBatch } from '../ingest/index.js';
import { type Bus, openBus, type ShardEntry } from '../platform/bus/index.js';

/**
 * The token of a client the edge would serve delayed: in the bench the delay outlasts the run, so
 * the edge sends such clients nothing, and neither does the relay — both send the same frames to
 * the same sockets.
 */
export const DELAYED_TOKEN = 'delayed';
const READ_COUNT = 256;
const BLOCK_MS = 500;
const COMMA = Buffer.from(',');
const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');

export interface BareRelay {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startBareRelay(options: { redisUrl: string; prefix: string }): Promise<BareRelay> {
  const bus: Bus = await openBus({ url: options.redisUrl, prefix: options.prefix });
  const reader = bus.ticks.reader({ from: 'latest' });
  const subscribers = new Map<string, Set<WebSocket>>();
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  server.on('connection', (ws) => {
    const channels: string[] = [];
    let delayed = false;
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { action?: string; params?: string };
      if (message.action === 'auth') {
        delayed = message.params === DELAYED_TOKEN;
        ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]');
      } else if (message.action === 'subscribe' && typeof message.params === 'string') {
        const added = message.params.split(',');
        for (const channel of added) {
          if (delayed) continue;
          channels.push(channel);
          const set = subscribers.get(channel) ?? new Set<WebSocket>();
          subscribers.set(channel, set);
          set.add(ws);
        }
        ws.send(
          JSON.stringify(
            added.map((channel) => ({
              ev: 'status',
              status: 'success',
              message: `subscribed to: ${channel}`,
            })),
          ),
        );
      }
    });
    ws.on('close', () => {
      for (const channel of channels) subscribers.get(channel)?.delete(ws);
    });
  });
  await new Promise<void>((resolve) => server.once('listening', resolve));

  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      let entries: ShardEntry[] = await reader.next({ count: READ_COUNT, blockMs: BLOCK_MS }).catch(() => []);
      // A publisher's batch is one entry per shard and a blocked read returns after the first:
      // what else is waiting joins this turn, as the edge does, so each socket gets one frame.
      if (entries.length > 0)
        entries = entries.concat(await reader.next({ count: READ_COUNT, blockMs: 0 }).catch(() => []));
      const frames = new Map<WebSocket, Buffer[]>();
      for (const entry of entries) {
        decodeBatch(entry.payload, (type, _tape, sym, _t, json) => {
          const set = subscribers.get(`${type}.${sym}`);
          if (set === undefined) return;
          for (const ws of set) {
            const parts = frames.get(ws);
            if (parts === undefined) frames.set(ws, [OPEN, json]);
            else parts.push(COMMA, json);
          }
        });
      }
      for (const [ws, parts] of frames) {
        parts.push(CLOSE);
        ws.send(Buffer.concat(parts), { binary: false });
      }
    }
  })();

  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/stocks`,
    async stop() {
      stopped = true;
      await reader.close();
      await loop;
      for (const ws of server.clients) ws.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await bus.close();
    },
  };
}
