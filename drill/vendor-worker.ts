/**
 * The drill's vendor in a thread of its own: the fake Polygon server and the feed that drives it.
 * At market load the drill's main thread is busy with a thousand client sockets; here the feed
 * keeps its rate and the server sees each vendor connection open, authenticate and close when it
 * happens, so "never two authenticated at once" is judged on this thread's prompt view, not on a
 * loaded event loop's late one. Shares with the main thread (drill/vendor.ts) the send time of
 * every event and the counters; takes its commands as messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FakePolygonServer } from '../testing/index.js';
import {
  drillSymbols,
  S_AUTHENTICATED,
  S_MAX_SIMULTANEOUS,
  S_OVERFLOW,
  S_SENT,
  S_SUBSCRIBED,
  type VendorCommand,
  type VendorWorkerData,
} from './vendor-protocol.js';

const TICK_MS = 10;
/** After a stall, at most this many ticks' worth at once: a vendor catches up, it does not flood. */
const CATCH_UP_TICKS = 5;

const data = workerData as VendorWorkerData;
const port = parentPort;
if (port === null) throw new Error('drill/vendor-worker.js runs as a worker thread');
const sentAt = new Float64Array(data.sentAt);
const state = new Int32Array(data.state);
const symbols = drillSymbols(data.symbolsPerTape);
const server = await FakePolygonServer.start({ key: data.key });

let started: { at: number; sent: number } | undefined;
let next = 0;

function publishState(): void {
  Atomics.store(state, S_SUBSCRIBED, server.subscribed);
  Atomics.store(state, S_AUTHENTICATED, server.authenticated);
  Atomics.store(state, S_MAX_SIMULTANEOUS, server.maxSimultaneous);
}

/** Sends what the rate owes since the start, in one frame, as a vendor batches. */
function tick(): void {
  publishState();
  if (started === undefined) return;
  const now = Date.now();
  const sent = Atomics.load(state, S_SENT);
  const owed = Math.floor(((now - started.at) * data.eventsPerSecond) / 1000) - (sent - started.sent);
  const count = Math.min(owed, Math.ceil((data.eventsPerSecond * TICK_MS * CATCH_UP_TICKS) / 1000));
  if (count <= 0) return;
  if (sent + count > sentAt.length) {
    Atomics.store(state, S_OVERFLOW, 1);
    return;
  }
  const events: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const { sym, tape } = symbols[next++ % symbols.length] as { sym: string; tape: number };
    sentAt[sent + i] = now;
    const q = sent + i + 1;
    const price = 100 + (q % 100) / 100;
    events.push(
      q % 5 === 0
        ? { ev: 'T', sym, x: 4, i: String(q), z: tape, p: price, s: 100, t: now, q }
        : {
            ev: 'Q',
            sym,
            bx: 11,
            bp: price,
            bs: 1,
            ax: 12,
            ap: price + 0.01,
            as: 1,
            c: 0,
            t: now,
            q,
            z: tape,
          },
    );
  }
  // Published before the frame goes out: a client can never hold a q the main thread cannot see.
  Atomics.store(state, S_SENT, sent + count);
  server.send(events);
}

/** Frames a vendor should never send; the hub must count and skip them. */
function sendMalformed(): number {
  const frames: string[] = [
    'not json at all',
    '{"ev":"Q"}',
    '[1,2,3]',
    JSON.stringify([{ ev: 'Q', sym: 'AA0', bx: 'x', t: Date.now(), q: 1, z: 1 }]),
    JSON.stringify([{ ev: 'T', sym: '', x: 1, i: '1', p: 1, s: 1, t: Date.now(), q: 1, z: 1 }]),
    JSON.stringify([{ ev: 'T', sym: 'AA0', x: 1, i: '1', p: -5, s: 1, t: Date.now(), q: 1, z: 1 }]),
    JSON.stringify([{ ev: 'Q', sym: 'ZZ"', bx: 1, bp: 1, bs: 1, ax: 1, ap: 1, as: 1, t: 1, q: 1, z: 1 }]),
    JSON.stringify([{ ev: 'Q', sym: 'AA0', bx: 1, bp: 1, bs: 1, ax: 1, ap: 1, as: 1, t: 1, q: 1, z: 9 }]),
    JSON.stringify([{ ev: 'XX', sym: 'AA0' }]),
    `[${'{"ev":"Q",'.repeat(2_000)}`,
  ];
  for (const frame of frames) server.send(frame);
  server.sendBinary(Buffer.from([0, 1, 2, 3]));
  return frames.length + 1;
}

const timer = setInterval(tick, TICK_MS);

port.on('message', async ({ id, command }: { id: number; command: VendorCommand }) => {
  let result: unknown;
  switch (command) {
    case 'start':
      started ??= { at: Date.now(), sent: Atomics.load(state, S_SENT) };
      break;
    case 'stop':
      started = undefined;
      break;
    case 'malformed':
      result = sendMalformed();
      break;
    case 'overlaps':
      result = [...server.overlapsAt];
      break;
    case 'close':
      clearInterval(timer);
      await server.close();
      publishState();
      break;
  }
  port.postMessage({ id, result });
});

port.postMessage({ ready: server.url });
