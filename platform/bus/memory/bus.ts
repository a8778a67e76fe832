/**
 * The bus inside one process (embedded default), with the semantics of the Redis implementation:
 * `<ms>-<seq>` ids, trimmed tick streams, blocking reads, consumer groups with pending entries,
 * broadcast control messages, key/values, leases and session slots. Entries and their payload
 * Buffers are stored and handed to every reader as-is, never copied: readers must not modify them.
 */
import type { Logger } from '../../logger.js';
import type { Bus, BusHealth, WorkStream } from '../types.js';
import { MemoryControlChannel } from './control.js';
import { MemoryKeyValues } from './key-values.js';
import { MemoryLeases } from './leases.js';
import { Lifecycle } from './lifecycle.js';
import { MemorySessionSlots } from './session-slots.js';
import { MemoryTickStreams } from './ticks.js';
import { MemoryWorkStream } from './work.js';

/** Fully resolved: `openBus` applies the defaults, so they live in one place. */
export interface MemoryBusOptions {
  shards: number;
  tickMaxLen: number;
  logger: Logger;
}

class MemoryBus implements Bus {
  readonly kind = 'memory';
  readonly ticks: MemoryTickStreams;
  readonly control: MemoryControlChannel;
  readonly kv = new MemoryKeyValues();
  readonly leases = new MemoryLeases();
  readonly sessions = new MemorySessionSlots();
  readonly #work = new Map<string, MemoryWorkStream>();
  readonly #lifecycle = new Lifecycle();

  constructor(options: MemoryBusOptions) {
    this.ticks = new MemoryTickStreams(options.shards, options.tickMaxLen, this.#lifecycle);
    this.control = new MemoryControlChannel(options.logger, this.#lifecycle);
  }

  work(name: string): WorkStream {
    let stream = this.#work.get(name);
    if (stream === undefined) {
      stream = new MemoryWorkStream(name, this.#lifecycle);
      this.#work.set(name, stream);
    }
    return stream;
  }

  async health(): Promise<BusHealth> {
    return this.#lifecycle.closed ? { ok: false, reason: 'the bus is closed' } : { ok: true };
  }

  async close(): Promise<void> {
    await this.#lifecycle.close();
  }
}

/** The embedded bus: one process, nothing to install, state gone when the process exits. */
export function createMemoryBus(options: MemoryBusOptions): Bus {
  return new MemoryBus(options);
}
