import type { Logger } from './logger.js';

/** What a dependency says about itself on /readyz. */
export type HealthStatus = { ok: true; detail?: string } | { ok: false; detail: string };

export type HealthCheck = () => Promise<HealthStatus> | HealthStatus;

export interface HealthChecksOptions {
  /**
   * Where a check turning false (warn) and true again (info) is logged, once per change: an
   * outage is one warning and one recovery, however many requests or retries it spans.
   */
  logger?: Logger;
}

/** Named readiness checks (bus, database, feed, …) that /readyz runs together. */
export class HealthChecks {
  readonly #checks = new Map<string, HealthCheck>();
  readonly #logger: Logger | undefined;
  /** The last known state of each check, as of the latest run to finish among those started. */
  readonly #failing = new Map<string, boolean>();
  #started = 0;
  #applied = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: HealthChecksOptions = {}) {
    this.#logger = options.logger;
  }

  add(name: string, check: HealthCheck): void {
    this.#checks.set(name, check);
  }

  /** Runs every check with a time limit; a check that throws or hangs counts as not ready. */
  async run(timeoutMs = 2_000): Promise<{ ok: boolean; checks: Record<string, HealthStatus> }> {
    const run = ++this.#started;
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, check]) => [name, await withTimeout(check, timeoutMs)] as const),
    );
    // A run that started before a newer one finished must not bring back a state already superseded.
    if (run > this.#applied) {
      this.#applied = run;
      for (const [name, status] of entries) this.#note(name, status);
    }
    return { ok: entries.every(([, status]) => status.ok), checks: Object.fromEntries(entries) };
  }

  /**
   * Runs the checks every `intervalMs` as well, so an outage is logged when it starts even if
   * nobody asks /readyz. Stopped by `stop`; the timer never keeps the process alive.
   */
  watch(intervalMs: number): void {
    clearInterval(this.#timer);
    this.#timer = setInterval(() => void this.run(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #note(check: string, status: HealthStatus): void {
    const failing = !status.ok;
    const was = this.#failing.get(check) ?? false;
    this.#failing.set(check, failing);
    if (failing === was) return;
    if (failing) this.#logger?.warn({ check, detail: status.detail }, `${check} is not ready`);
    else this.#logger?.info({ check, detail: status.detail }, `${check} is ready again`);
  }
}

async function withTimeout(check: HealthCheck, timeoutMs: number): Promise<HealthStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HealthStatus>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch (error) {
    return { ok: false, detail: (error as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
