/**
 * The drill's operator: users, attestations, agreements, grants and tokens through the admin API,
 * exactly as a broker's back office would. The checks read the entitlement history the hub
 * recorded; the client only remembers what it cannot read back (when an attestation was filed).
 */

export type Category = 'professional' | 'non_professional';

export class AdminClient {
  /** When each non-professional user's attestation was filed. */
  readonly attestedAt = new Map<string, number>();

  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  async createUser(id: string, category: Category): Promise<void> {
    await this.#call('POST', '/admin/users', { id });
    // Everyone is professional until a non-professional attestation is on file.
    if (category === 'non_professional') {
      await this.#call('POST', `/admin/users/${id}/attestations`, {
        status: 'non_professional',
        answers: { drill: true },
      });
      // After the answer: the hub's own instant is no later, so "on file by then" is safe to judge.
      this.attestedAt.set(id, Date.now());
    }
  }

  async acceptAgreement(user: string, product: string): Promise<void> {
    await this.#call('POST', `/admin/users/${user}/agreements`, { product });
  }

  async grant(user: string, product: string): Promise<void> {
    await this.#call('PUT', `/admin/users/${user}/entitlements/${product}`, { realtime: true });
  }

  async revoke(user: string, product: string): Promise<void> {
    await this.#call('DELETE', `/admin/users/${user}/entitlements/${product}`);
  }

  /**
   * One revocation request, no retry: the HTTP status it answered. A fault that must show the API
   * still answers (the change commits while the bus refuses writes) cannot let a retry hide a 500.
   */
  async revokeOnce(user: string, product: string): Promise<number> {
    const res = await fetch(`${this.baseUrl}/admin/users/${user}/entitlements/${product}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${this.token}` },
    });
    await res.text();
    return res.status;
  }

  async issueToken(user: string): Promise<string> {
    const { token } = (await this.#call('POST', `/admin/users/${user}/tokens`, {})) as { token: string };
    return token;
  }

  /**
   * The category a monthly report must give (DESIGN rule 3): professional if professional at any
   * instant at which the user counted for the product. The drill's attestations never expire or
   * change, so that is: non-professional when attested by the first instant the user counted
   * (`firstCounted`, entitled or receiving real time); otherwise professional.
   */
  categoryWhenCounted(user: string, firstCounted: number): Category {
    const at = this.attestedAt.get(user);
    return at !== undefined && at <= firstCounted ? 'non_professional' : 'professional';
  }

  async get(path: string): Promise<unknown> {
    return this.#call('GET', path);
  }

  async #call(method: string, path: string, body?: unknown): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${this.baseUrl}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        // The api process may be reconnecting (a Redis restart): an operator would retry.
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      const text = await res.text();
      if (res.ok) return text ? (JSON.parse(text) as unknown) : undefined;
      if (res.status >= 500 && attempt < 20) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    }
  }
}
