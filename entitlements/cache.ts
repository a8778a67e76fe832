/**
 * The edge's copy of every user's entitlements: decisions and token checks answered from memory,
 * kept current by the change feed, and re-evaluated at each user's next transition instant (a
 * grant starting or ending, an attestation expiring) without any API call.
 */
import type { Catalog, Category } from '../config/index.js';
import type { ControlChannel, ControlMessage, Subscription } from '../platform/bus/index.js';
import type { Db } from '../platform/db/index.js';
import type { Logger } from '../platform/logger.js';
import { silentLogger } from '../platform/logger.js';
import { categoryAt } from './category.js';
import { isEntitlementsChanged } from './changes.js';
import { type Decision, decide } from './decide.js';
import { type ProductTerms, productTerms, type UserSnapshot } from './snapshot.js';
import { loadState, type TokenEntry } from './store.js';
import { hashToken, USER_TOKEN_PREFIX } from './tokens.js';
import { TransitionTimer } from './transition-timer.js';
import { nextTransition } from './transitions.js';

export interface EntitlementCacheOptions {
  db: Db;
  /** `bus.control`: where `entitlements.changed` arrives. */
  control: ControlChannel;
  catalog: Catalog;
  /** `MDHUB_SESSION_LIMIT`: the limit for users without their own. */
  defaultSessionLimit: number;
  logger?: Logger;
  /** Wall clock, epoch ms (default `Date.now`); tests move it. */
  now?: () => number;
  /** Wait before retrying a load the database failed (default 1 000 ms). */
  retryMs?: number;
}

export type ChangeListener = (userId: string) => void;

export class EntitlementCache {
  readonly #db: Db;
  readonly #control: ControlChannel;
  readonly #products: Map<string, ProductTerms>;
  readonly #defaultSessionLimit: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #retryMs: number;
  readonly #timer: TransitionTimer;
  readonly #listeners = new Set<ChangeListener>();

  #users = new Map<string, UserSnapshot>();
  #tokens = new Map<string, TokenEntry>();
  readonly #tokensByUser = new Map<string, Set<string>>();
  /** Per user, the sequence number of the load its data came from: an older load never overwrites. */
  readonly #loadedBy = new Map<string, number>();
  #fullLoadSeq = 0;
  #seq = 0;

  readonly #reloading = new Map<string, { again: boolean }>();
  #fullReload: { again: boolean } | undefined;
  readonly #retries = new Set<NodeJS.Timeout>();
  #subscription: Subscription | undefined;
  #stopped = false;
  /**
   * False from the moment the change feed drops until a full reload that began after the drop is
   * in: a revocation published meanwhile may have been missed, so no decision is real time.
   */
  #verified = true;
  /** Counts feed drops, so a reload that began before the latest one cannot re-verify. */
  #drops = 0;

  constructor(options: EntitlementCacheOptions) {
    this.#db = options.db;
    this.#control = options.control;
    this.#products = productTerms(options.catalog);
    this.#defaultSessionLimit = options.defaultSessionLimit;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#timer = new TransitionTimer((userId) => this.#transition(userId), this.#now);
  }

  /** Subscribes to the change feed, then loads everything; resolves once the first load is in. */
  async start(): Promise<void> {
    // Subscribing first: a change committed while the load runs is reloaded after it, not lost.
    this.#subscription = await this.#control.subscribe((message) => this.#onMessage(message), {
      onDisconnect: () => this.#onFeedLost(),
      onResync: () => void this.#reloadAll(),
    });
    await this.#reloadAll(true);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer.stop();
    for (const retry of this.#retries) clearTimeout(retry);
    this.#retries.clear();
    await this.#subscription?.close();
  }

  /** The decision for `userId` on `productId` at `at`, from memory. */
  decide(userId: string, productId: string, at: number, sessions?: number): Decision {
    return decide(this.#users.get(userId), this.#products.get(productId), at, {
      sessions,
      verified: this.#verified,
    });
  }

  /** The user behind a user token, or undefined for an unknown or revoked one. */
  authenticate(token: string): { userId: string; deviceId?: string } | undefined {
    if (!token.startsWith(USER_TOKEN_PREFIX)) return undefined;
    return this.#tokens.get(hashToken(token));
  }

  category(userId: string, at: number): Category | undefined {
    const user = this.#users.get(userId);
    return user && categoryAt(user, at);
  }

  snapshot(userId: string): UserSnapshot | undefined {
    return this.#users.get(userId);
  }

  /**
   * `listener(userId)` runs after the user's entitlements were reloaded and at each instant their
   * decision can change by itself; it should re-decide that user's open sessions. Returns an
   * unsubscribe function.
   */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get size(): number {
    return this.#users.size;
  }

  /** Whether decisions can be real time: the change feed has not dropped since the last full load. */
  get verified(): boolean {
    return this.#verified;
  }

  #onFeedLost(): void {
    this.#drops++;
    if (!this.#verified || this.#stopped) return;
    this.#verified = false;
    this.#logger.warn('entitlement change feed lost: real time withheld until reloaded');
    for (const userId of this.#users.keys()) this.#notify(userId);
  }

  #onMessage(message: ControlMessage): void {
    if (isEntitlementsChanged(message)) this.#reloadUser(message.userId);
  }

  #reloadUser(userId: string): void {
    if (this.#stopped) return;
    const running = this.#reloading.get(userId);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: true };
    this.#reloading.set(userId, state);
    void (async () => {
      try {
        while (state.again && !this.#stopped) {
          state.again = false;
          const seq = ++this.#seq;
          const loaded = await loadState(this.#db, [userId], this.#defaultSessionLimit);
          if (this.#stopped) return;
          this.#applyUser(userId, seq, loaded.users.get(userId), loaded.tokens);
        }
        this.#notify(userId);
      } catch (err) {
        if (this.#stopped) return;
        this.#logger.error({ err, userId }, 'entitlements reload failed; retrying');
        this.#retry(() => this.#reloadUser(userId));
      } finally {
        this.#reloading.delete(userId);
      }
    })();
  }

  async #reloadAll(initial = false): Promise<void> {
    if (this.#stopped) return;
    if (this.#fullReload) {
      this.#fullReload.again = true;
      return;
    }
    const state = { again: true };
    this.#fullReload = state;
    try {
      while (state.again && !this.#stopped) {
        state.again = false;
        const seq = ++this.#seq;
        const drops = this.#drops;
        const loaded = await loadState(this.#db, undefined, this.#defaultSessionLimit);
        if (this.#stopped) return;
        if (drops === this.#drops) this.#verified = true;
        this.#applyAll(seq, loaded.users, loaded.tokens, !initial);
      }
    } catch (err) {
      if (initial) throw err;
      if (this.#stopped) return;
      this.#logger.error({ err }, 'entitlements full reload failed; retrying');
      this.#retry(() => void this.#reloadAll());
    } finally {
      this.#fullReload = undefined;
    }
  }

  #retry(action: () => void): void {
    if (this.#stopped) return;
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      action();
    }, this.#retryMs);
    timer.unref();
    this.#retries.add(timer);
  }

  #applyUser(
    userId: string,
    seq: number,
    user: UserSnapshot | undefined,
    tokens: Map<string, TokenEntry>,
  ): void {
    if ((this.#loadedBy.get(userId) ?? this.#fullLoadSeq) > seq) return;
    this.#loadedBy.set(userId, seq);
    if (user) this.#users.set(userId, user);
    else this.#users.delete(userId);
    for (const hash of this.#tokensByUser.get(userId) ?? []) this.#tokens.delete(hash);
    const hashes = new Set<string>();
    for (const [hash, entry] of tokens) {
      this.#tokens.set(hash, entry);
      hashes.add(hash);
    }
    this.#tokensByUser.set(userId, hashes);
    this.#timer.set(userId, user && nextTransition(user, this.#now()));
  }

  #applyAll(
    seq: number,
    users: Map<string, UserSnapshot>,
    tokens: Map<string, TokenEntry>,
    notify: boolean,
  ): void {
    const previous = [...this.#users.keys()];
    // A user reloaded on its own by a load that started after this one keeps that newer data.
    for (const [userId, by] of this.#loadedBy) {
      if (by <= seq) continue;
      const current = this.#users.get(userId);
      if (current) users.set(userId, current);
      else users.delete(userId);
      for (const [hash, entry] of tokens) if (entry.userId === userId) tokens.delete(hash);
      for (const hash of this.#tokensByUser.get(userId) ?? []) {
        const entry = this.#tokens.get(hash);
        if (entry) tokens.set(hash, entry);
      }
    }
    for (const [userId, by] of this.#loadedBy) if (by <= seq) this.#loadedBy.delete(userId);
    this.#fullLoadSeq = seq;
    this.#users = users;
    this.#tokens = tokens;
    this.#tokensByUser.clear();
    for (const [hash, entry] of tokens) {
      const hashes = this.#tokensByUser.get(entry.userId) ?? new Set<string>();
      hashes.add(hash);
      this.#tokensByUser.set(entry.userId, hashes);
    }
    const now = this.#now();
    for (const userId of previous) if (!users.has(userId)) this.#timer.set(userId, undefined);
    for (const user of users.values()) this.#timer.set(user.id, nextTransition(user, now));
    if (notify) for (const userId of new Set([...previous, ...users.keys()])) this.#notify(userId);
  }

  #transition(userId: string): void {
    const user = this.#users.get(userId);
    if (user) this.#timer.set(userId, nextTransition(user, this.#now()));
    this.#notify(userId);
  }

  #notify(userId: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(userId);
      } catch (err) {
        this.#logger.error({ err, userId }, 'entitlements change listener failed');
      }
    }
  }
}
