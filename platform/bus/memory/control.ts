import type { Logger } from '../../logger.js';
import type { ControlChannel, ControlMessage, Subscription } from '../types.js';
import type { Lifecycle } from './lifecycle.js';

class MemorySubscription implements Subscription {
  readonly #handler: (message: ControlMessage) => void;
  readonly #logger: Logger;
  readonly #queue: string[] = [];
  readonly #onClose: () => void;
  #scheduled = false;
  #closed = false;

  constructor(handler: (message: ControlMessage) => void, logger: Logger, onClose: () => void) {
    this.#handler = handler;
    this.#logger = logger;
    this.#onClose = onClose;
  }

  /** Queued and delivered later, as over Redis: a publisher never runs subscribers' code inline. */
  push(json: string): void {
    this.#queue.push(json);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.#drain());
  }

  #drain(): void {
    this.#scheduled = false;
    const messages = this.#queue.splice(0);
    for (const json of messages) {
      if (this.#closed) return;
      try {
        // Parsed per subscriber so each gets its own copy with exactly what JSON carries, as over Redis.
        this.#handler(JSON.parse(json) as ControlMessage);
      } catch (err) {
        this.#logger.error({ err }, 'control handler failed');
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#queue.length = 0;
    this.#onClose();
  }
}

export class MemoryControlChannel implements ControlChannel {
  readonly #subscriptions = new Set<MemorySubscription>();
  readonly #logger: Logger;
  readonly #lifecycle: Lifecycle;

  constructor(logger: Logger, lifecycle: Lifecycle) {
    this.#logger = logger;
    this.#lifecycle = lifecycle;
  }

  async publish(message: ControlMessage): Promise<void> {
    this.#lifecycle.check();
    const json = JSON.stringify(message);
    for (const subscription of this.#subscriptions) subscription.push(json);
  }

  /** `onDisconnect` and `onResync` are never called: nothing is lost in one process. */
  async subscribe(handler: (message: ControlMessage) => void): Promise<Subscription> {
    this.#lifecycle.check();
    const subscription: MemorySubscription = new MemorySubscription(handler, this.#logger, () => {
      this.#subscriptions.delete(subscription);
      this.#lifecycle.release(subscription);
    });
    this.#subscriptions.add(subscription);
    return this.#lifecycle.adopt(subscription);
  }
}
