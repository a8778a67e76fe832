/**
 * The vendor side of the drill: the fake Polygon server, fed a steady stream of quotes and trades
 * on all three tapes. Every event carries a drill-wide sequence number `q` and the vendor time
 * `t` it was sent at, and the driver remembers each one, so the client logs can be checked against
 * exactly what the vendor put on the wire.
 */
import { FakePolygonServer } from '../testing/index.js';

/** Symbols per tape, named so the tape is visible: `AA0` … on tape 1, `BB0` … on 2, `CC0` … on 3. */
export function drillSymbols(perTape: number): Array<{ sym: string; tape: 1 | 2 | 3 }> {
  const out: Array<{ sym: string; tape: 1 | 2 | 3 }> = [];
  for (const [prefix, tape] of [
    ['AA', 1],
    ['BB', 2],
    ['CC', 3],
  ] as const) {
    for (let i = 0; i < perTape; i++) out.push({ sym: `${prefix}${i}`, tape });
  }
  return out;
}

export class DrillVendor {
  readonly server: FakePolygonServer;
  readonly symbols: Array<{ sym: string; tape: 1 | 2 | 3 }>;
  readonly sentAt: number[] = [];
  readonly #perTick: number;
  #timer: NodeJS.Timeout | undefined;
  #next = 0;

  private constructor(server: FakePolygonServer, symbolsPerTape: number, eventsPerSecond: number) {
    this.server = server;
    this.symbols = drillSymbols(symbolsPerTape);
    // One frame every 10 ms, as a vendor batches.
    this.#perTick = Math.max(1, Math.round(eventsPerSecond / 100));
  }

  static async start(key: string, symbolsPerTape: number, eventsPerSecond: number): Promise<DrillVendor> {
    return new DrillVendor(await FakePolygonServer.start({ key }), symbolsPerTape, eventsPerSecond);
  }

  get sent(): number {
    return this.sentAt.length;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), 10);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Frames a vendor should never send; the hub must count and skip them. */
  sendMalformed(): number {
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
    for (const frame of frames) this.server.send(frame);
    this.server.sendBinary(Buffer.from([0, 1, 2, 3]));
    return frames.length + 1;
  }

  #tick(): void {
    const now = Date.now();
    const events: Record<string, unknown>[] = [];
    for (let i = 0; i < this.#perTick; i++) {
      const { sym, tape } = this.symbols[this.#next++ % this.symbols.length] as { sym: string; tape: number };
      const q = this.sentAt.push(now);
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
    this.server.send(events);
  }

  async close(): Promise<void> {
    this.stop();
    await this.server.close();
  }
}
