import type { Logger } from '../platform/logger.js';
import type { CheckpointStore } from './witness.js';

/** How one witness is doing, for metrics, logs and `mdhub audit checkpoint`. */
export interface WitnessStatus {
  variable: string;
  where: string;
  /** Checkpoints signed that this witness does not hold yet. */
  pending: number;
  /** Failed deliveries since the process started. */
  failures: number;
  /** Why the last attempt failed; absent while the witness is keeping up. */
  error?: string;
}

interface State {
  store: CheckpointStore;
  /** Lines still to send, oldest first; unknown until the witness was compared with the primary. */
  pending: string[];
  synced: boolean;
  failures: number;
  error?: string;
}

/**
 * Carries checkpoints to the witnesses without ever holding up the hub: a checkpoint is written
 * to the primary file first, then queued here and sent in the background, in order. A witness
 * that is down keeps its queue and is retried on every `kick()`; its failures are counted and
 * logged once when it goes down and once when it is back. Before its first delivery, and again
 * after a failure, a witness is compared with the primary file, so checkpoints signed while it
 * was unreachable, or by another process, or before a restart, reach it too.
 */
export class WitnessDelivery {
  readonly #primary: CheckpointStore;
  readonly #states: State[];
  readonly #logger: Logger | undefined;
  #draining: Promise<void> | undefined;

  constructor(stores: readonly CheckpointStore[], primary: CheckpointStore, logger?: Logger) {
    this.#primary = primary;
    this.#logger = logger;
    this.#states = stores.map((store) => ({ store, pending: [], synced: false, failures: 0 }));
  }

  /** Queues a checkpoint line (already in the primary file) for every witness, and starts sending. */
  enqueue(line: string): void {
    for (const state of this.#states) if (state.synced) state.pending.push(line);
    this.kick();
  }

  /** Starts sending whatever is queued, unless a delivery is already under way. */
  kick(): void {
    if (this.#states.length === 0) return;
    this.#draining ??= this.#drain().finally(() => {
      this.#draining = undefined;
    });
  }

  /** Resolves when one delivery attempt for everything queued so far has finished. */
  async flush(): Promise<void> {
    await this.#draining;
    if (this.#states.some((s) => !s.synced || s.pending.length > 0)) {
      this.kick();
      await this.#draining;
    }
  }

  status(): WitnessStatus[] {
    return this.#states.map(({ store, pending, failures, error }) => ({
      variable: store.variable,
      where: store.where,
      pending: pending.length,
      failures,
      ...(error === undefined ? {} : { error }),
    }));
  }

  async #drain(): Promise<void> {
    await Promise.all(this.#states.map((state) => this.#deliver(state)));
  }

  async #deliver(state: State): Promise<void> {
    try {
      if (!state.synced) {
        state.pending = await this.#missingFrom(state.store);
        state.synced = true;
      }
      while (state.pending.length > 0) {
        await state.store.append(state.pending[0] as string);
        state.pending.shift();
      }
      if (state.error !== undefined) {
        this.#logger?.info({ witness: state.store.where }, 'audit witness reachable again; caught up');
        state.error = undefined;
      }
    } catch (error) {
      state.failures++;
      // Compared afresh next time: the failed append may have landed before the error.
      state.synced = false;
      const message = `${state.store.variable} ${state.store.where}: ${(error as Error).message}`;
      if (state.error === undefined) {
        this.#logger?.warn(
          { witness: state.store.where },
          `audit witness unreachable, checkpoints are kept and retried: ${message}`,
        );
      }
      state.error = message;
    }
  }

  /** The primary file's lines the witness lacks, by signature (a witness may re-print the JSON). */
  async #missingFrom(store: CheckpointStore): Promise<string[]> {
    const held = new Set<string>();
    for await (const line of store.lines()) {
      const signature = signatureOf(line);
      if (signature !== undefined) held.add(signature);
    }
    const missing: string[] = [];
    for await (const line of this.#primary.lines()) {
      const signature = signatureOf(line);
      if (signature !== undefined && !held.has(signature)) missing.push(line);
    }
    return missing;
  }
}

function signatureOf(line: string): string | undefined {
  if (line.trim() === '') return undefined;
  try {
    const signature = (JSON.parse(line) as { signature?: unknown }).signature;
    return typeof signature === 'string' ? signature : undefined;
  } catch {
    return undefined;
  }
}
