/**
 * The vendor side of the drill: the fake Polygon server, fed a steady stream of quotes and trades
 * on all three tapes at the drill's rate, in a thread of its own (drill/vendor-worker.ts). Every
 * event carries a drill-wide sequence number `q` and the vendor time `t` it was sent at, and the
 * send log is shared with this thread, so the client logs can be checked against exactly what the
 * vendor put on the wire.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../config/index.js';
import {
  drillSymbols,
  S_AUTHENTICATED,
  S_MAX_SIMULTANEOUS,
  S_OVERFLOW,
  S_SENT,
  S_SUBSCRIBED,
  STATE_SLOTS,
  type VendorCommand,
  type VendorWorkerData,
} from './vendor-protocol.js';

/** The send log holds this long a drill at the given rate (20 minutes), and at least a million events. */
const LOG_SECONDS = 1_200;

export class DrillVendor {
  readonly symbols: Array<{ sym: string; tape: 1 | 2 | 3 }>;
  /** The fake server's WebSocket URL (`POLYGON_WS_URL`). */
  readonly url: string;
  readonly #worker: Worker;
  readonly #sentAt: Float64Array;
  readonly #state: Int32Array;
  readonly #waiting = new Map<number, (result: unknown) => void>();
  #nextId = 0;

  private constructor(worker: Worker, url: string, data: VendorWorkerData) {
    this.#worker = worker;
    this.url = url;
    this.symbols = drillSymbols(data.symbolsPerTape);
    this.#sentAt = new Float64Array(data.sentAt);
    this.#state = new Int32Array(data.state);
    worker.on('message', (m: { id?: number; result?: unknown }) => {
      if (m.id === undefined) return;
      this.#waiting.get(m.id)?.(m.result);
      this.#waiting.delete(m.id);
    });
  }

  static async start(key: string, symbolsPerTape: number, eventsPerSecond: number): Promise<DrillVendor> {
    const events = Math.max(1_000_000, eventsPerSecond * LOG_SECONDS);
    const data: VendorWorkerData = {
      key,
      symbolsPerTape,
      eventsPerSecond,
      sentAt: new SharedArrayBuffer(events * Float64Array.BYTES_PER_ELEMENT),
      state: new SharedArrayBuffer(STATE_SLOTS * Int32Array.BYTES_PER_ELEMENT),
    };
    // The built file: the worker runs as plain Node, also when the drill runs under the test runner.
    const worker = new Worker(join(packageRoot(), 'dist', 'drill', 'vendor-worker.js'), { workerData: data });
    const url = await new Promise<string>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the vendor thread exited with ${code}`)));
      worker.once('message', (m: { ready?: string }) => {
        if (m.ready !== undefined) resolve(m.ready);
      });
    });
    worker.removeAllListeners('error');
    worker.removeAllListeners('exit');
    worker.on('error', (error) => process.stderr.write(`drill: the vendor thread failed: ${error.stack}\n`));
    return new DrillVendor(worker, url, data);
  }

  /** When each event was sent: index q − 1 holds event q's send time. */
  get sentAt(): Float64Array {
    return this.#sentAt.subarray(0, this.sent);
  }

  /** Events sent so far: the newest `q`. */
  get sent(): number {
    return Atomics.load(this.#state, S_SENT);
  }

  /** Authenticated vendor connections that have subscribed to something. */
  get subscribed(): number {
    return Atomics.load(this.#state, S_SUBSCRIBED);
  }

  /** Vendor connections authenticated now. */
  get authenticated(): number {
    return Atomics.load(this.#state, S_AUTHENTICATED);
  }

  /** The most vendor connections authenticated at one instant, as the vendor's thread saw it. */
  get maxSimultaneous(): number {
    return Atomics.load(this.#state, S_MAX_SIMULTANEOUS);
  }

  /** Whether the send log filled up and the feed stopped (a drill longer than it was sized for). */
  get overflowed(): boolean {
    return Atomics.load(this.#state, S_OVERFLOW) === 1;
  }

  start(): Promise<void> {
    return this.#command('start').then(() => undefined);
  }

  /** Resolves once no further event will be sent. */
  stop(): Promise<void> {
    return this.#command('stop').then(() => undefined);
  }

  /** Sends frames a vendor should never send; resolves to how many. */
  async sendMalformed(): Promise<number> {
    return (await this.#command('malformed')) as number;
  }

  /** When a vendor connection authenticated while another already was (epoch ms), in order. */
  async overlaps(): Promise<number[]> {
    return (await this.#command('overlaps')) as number[];
  }

  async close(): Promise<void> {
    await this.#command('close');
    await this.#worker.terminate();
  }

  #command(command: VendorCommand): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.#worker.postMessage({ id, command });
    });
  }
}
