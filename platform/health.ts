/** What a dependency says about itself on /readyz. */
export type HealthStatus = { ok: true; detail?: string } | { ok: false; detail: string };

export type HealthCheck = () => Promise<HealthStatus> | HealthStatus;

/** Named readiness checks (bus, database, feed, …) that /readyz runs together. */
export class HealthChecks {
  readonly #checks = new Map<string, HealthCheck>();

  add(name: string, check: HealthCheck): void {
    this.#checks.set(name, check);
  }

  /** Runs every check with a time limit; a check that throws or hangs counts as not ready. */
  async run(timeoutMs = 2_000): Promise<{ ok: boolean; checks: Record<string, HealthStatus> }> {
    const entries = await Promise.all(
      [...this.#checks].map(async ([name, check]) => [name, await withTimeout(check, timeoutMs)] as const),
    );
    return { ok: entries.every(([, status]) => status.ok), checks: Object.fromEntries(entries) };
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
