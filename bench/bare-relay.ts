/**
 * The floor the edge's latency is measured against: the least a relay from the tick streams to
 * WebSocket clients can do. It reads the same Redis streams with the same reader the edge uses,
 * and per read sends each socket one frame of the events on its channels, as the publisher encoded
 * them. No entitlement, no delay line, no metering, no limits: what is left is the machine, Redis,
 * the `ws` library and the clients. It speaks just enough of the client protocol for the bench's
 * clients (an `auth` answered with `auth_success`, one `success` per subscribed channel).
 */
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';
import { decodeBatch } from '../ingest/index.js';
import { type Bus, openBus } from '../platform/bus/index.js';

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
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { action?: string; params?: string };
      if (message.action === 'auth') {
        ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]');
      } else if (message.action === 'subscribe' && typeof message.params === 'string') {
        const added = message.params.split(',');
        for (const channel of added) {
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
      const entries = await reader.next({ count: READ_COUNT, blockMs: BLOCK_MS }).catch(() => []);
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
