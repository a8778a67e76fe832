/**
 * The edge's copy of every user's entitlements: decisions and token checks answered from memory,
 * kept current by the change feed, and re-evaluated at each user's next transition instant (a
 * grant starting or ending, an attestation expiring) without any API call.
 *
 * It never trusts the feed alone (docs/entitlements.md, "Change feed"). Every `verifyIntervalMs`
 * it reads the change head, one indexed row, and reloads the users of any change it has not
 * applied, so a notice lost between commit and edge is caught within an interval. Real time is
 * withheld (`unverified`) rather than served on a copy that may be stale:
 * - from a user whose known change is not applied within `verifyIntervalMs` of the change's own
 *   instant (the reload fails or hangs, or the change was learned late), until a reload that
 *   includes it is in — by the clock at each decision, and each real-time send re-decides at that
 *   instant (`verifiedUntil`), so a timer fired late by a starved event loop does not extend it;
 * - from everyone while no head read has succeeded for `2 × verifyIntervalMs` (the database is
 *   unreachable or locked), until one does;
 * - from everyone from the moment the feed drops until a full reload that began after the drop.
 * So a committed change is in force on every edge, or real time stopped, within
 * `2 × verifyIntervalMs` (2 s by default).
 */
import type { Catalog, Category } from '../config/index.js';
import type { ControlChannel, ControlMessage, Subscription } from '../platform/bus/index.js';
import type { Db } from '../platform/db/index.js';
import type { Logger } from '../platform/logger.js';
import { silentLogger } from '../platform/logger.js';
import { type Registry, scrapedGauge } from '../platform/metrics.js';
import { categoryAt } from './category.js';
import { changesBetween, isEntitlementsChanged, readChangeHead } from './changes.js';
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
  /** Where `mdhub_entitlements_verified` and `mdhub_entitlements_overdue_users` go; none: not exported. */
  metrics?: Registry;
  /**
   * `MDHUB_ENTITLEMENT_VERIFY_MS`: how often the change head is read, and how long a known change
   * may stay unapplied before its user loses real time (default 1 000 ms). Without a successful
   * read for twice this, every decision is `unverified`.
   */
  verifyIntervalMs?: number;
}

/** More unapplied changes than this are caught up with one full reload instead of row by row. */
const MAX_CHANGES_PER_POLL = 10_000;
/**
 * Per-user reloads running at once. A reload blocked on a locked table holds a pool connection;
 * past this many the rest wait their turn (their users turn `unverified` when overdue), so the
 * head check and a full reload always find a connection and real time stops for the changed
 * users only, not for everyone.
 */
const MAX_CONCURRENT_RELOADS = 2;

/** A change the cache knows of and has not applied yet. */
interface PendingChange {
  /** The highest seq known for the user; `Infinity` for a notice without one. */
  seq: number;
  /**
   * The instant from which the user's decisions are `unverified` unless the change is applied
   * first: `decide` compares it with the clock, so a timer that fires late (a starved event loop)
   * cannot leave real time flowing past it.
   */
  deadline: number;
  /** Fires when the change has gone unapplied too long: the user's real time stops. */
  overdue: NodeJS.Timeout;
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
  readonly #verifyIntervalMs: number;
  readonly #timer: TransitionTimer;
  readonly #listeners = new Set<ChangeListener>();

  #users = new Map<string, UserSnapshot>();
  #tokens = new Map<string, TokenEntry>();
  readonly #tokensByUser = new Map<string, Set<string>>();
  /** Per user, the sequence number of the load its data came from: an older load never overwrites. */
  readonly #loadedBy = new Map<string, number>();
  #fullLoadSeq = 0;
  #seq = 0;

  /** Users being reloaded: whether to load again, and the latest change the running load includes. */
  readonly #reloading = new Map<string, { again: boolean; known: number }>();
  #reloadsRunning = 0;
  readonly #reloadTurns: Array<() => void> = [];
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
  /** Every change up to this seq is applied or pending. */
  #head = 0;
  /** The head of the last full load: a user's data includes every change up to it (or later). */
  #fullHead = 0;
  /** Per user reloaded since the last full load, the seq its data includes. */
  readonly #appliedSeq = new Map<string, number>();
  readonly #pending = new Map<string, PendingChange>();
  /** Users whose pending change is overdue: no real time until it is applied. */
  readonly #overdue = new Set<string>();
  /** False once no head read has succeeded for `2 × verifyIntervalMs`. */
  #fresh = true;
  #stale: NodeJS.Timeout | undefined;
  #poller: NodeJS.Timeout | undefined;
  #polling = false;
  #pollFailing = false;

  constructor(options: EntitlementCacheOptions) {
    this.#db = options.db;
    this.#control = options.control;
    this.#products = productTerms(options.catalog);
    this.#defaultSessionLimit = options.defaultSessionLimit;
    this.#logger = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#retryMs = options.retryMs ?? 1_000;
    if (options.metrics) {
      scrapedGauge(
        options.metrics,
        'mdhub_entitlements_verified',
        'Whether entitlement decisions can be real time at all (0: real time withheld from everyone until verified)',
        () => (this.verified ? 1 : 0),
      );
      scrapedGauge(
        options.metrics,
        'mdhub_entitlements_overdue_users',
        'Users whose entitlement change is known and not applied in time: real time withheld from them',
        () => this.#overdue.size,
      );
    }
    this.#verifyIntervalMs = options.verifyIntervalMs ?? 1_000;
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
    this.#verifiedAt(this.#now());
    this.#poller = setInterval(() => void this.#poll(), this.#verifyIntervalMs);
    this.#poller.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const turn of this.#reloadTurns.splice(0)) turn();
    this.#timer.stop();
    clearInterval(this.#poller);
    clearTimeout(this.#stale);
    for (const pending of this.#pending.values()) clearTimeout(pending.overdue);
    this.#pending.clear();
    for (const retry of this.#retries) clearTimeout(retry);
    this.#retries.clear();
    await this.#subscription?.close();
  }

  /** The decision for `userId` on `productId` at `at`, from memory. */
  decide(userId: string, productId: string, at: number, sessions?: number): Decision {
    return decide(this.#users.get(userId), this.#products.get(productId), at, {
      sessions,
      verified:
        this.#verified &&
        this.#fresh &&
        !this.#overdue.has(userId) &&
        at < (this.#pending.get(userId)?.deadline ?? Number.POSITIVE_INFINITY),
    });
  }

  /**
   * The instant from which `userId`'s decisions stop being real time unless a reload that includes
   * their pending change is in first; `+Infinity` while no change of theirs is pending. A session
   * holds real time no longer than this without deciding again.
   */
  verifiedUntil(userId: string): number {
    return this.#pending.get(userId)?.deadline ?? Number.POSITIVE_INFINITY;
  }

  /** The user behind a user token, or undefined for an unknown or revoked one. */
  authenticate(token: string): TokenEntry | undefined {
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
   * `listener(userId)` runs after the user's entitlements were reloaded, at each instant their
   * decision can change by itself, and when a change of theirs is learned (so sessions take up its
   * `verifiedUntil`); it should re-decide that user's open sessions. Returns an unsubscribe
   * function.
   */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get size(): number {
    return this.#users.size;
  }

  /**
   * Whether decisions can be real time at all: the change feed has not dropped since the last full
   * load, and the change head was read within `2 × verifyIntervalMs`.
   */
  get verified(): boolean {
    return this.#verified && this.#fresh;
  }

  #onFeedLost(): void {
    this.#withhold('entitlement change feed lost: real time withheld until reloaded');
  }

  /** Until a full reload that starts after this call is in, no decision is real time. */
  #withhold(why: string): void {
    this.#drops++;
    if (!this.#verified || this.#stopped) return;
    this.#verified = false;
    this.#logger.warn(why);
    for (const userId of this.#users.keys()) this.#notify(userId);
  }

  #onMessage(message: ControlMessage): void {
    if (isEntitlementsChanged(message))
      this.#learn(message.userId, message.seq ?? Number.POSITIVE_INFINITY, message.at);
  }

  /**
   * A change for `userId` made at `at` is committed: reload the user, and withhold real time if
   * that is not done within `verifyIntervalMs` of the change itself — not of learning of it, which
   * a slow head read or a late feed message can put close to or past that. A change learned too
   * late withholds real time at once.
   */
  #learn(userId: string, seq: number, at?: number): void {
    if (this.#stopped || seq <= (this.#appliedSeq.get(userId) ?? this.#fullHead)) return;
    const pending = this.#pending.get(userId);
    if (pending) pending.seq = Math.max(pending.seq, seq);
    else {
      const now = this.#now();
      const left =
        at === undefined
          ? this.#verifyIntervalMs
          : Math.min(this.#verifyIntervalMs, at + this.#verifyIntervalMs - now);
      const overdue = setTimeout(() => this.#markOverdue(userId), Math.max(0, left));
      overdue.unref();
      this.#pending.set(userId, { seq, deadline: now + left, overdue });
      // Told now, so the user's sessions hold real time only until the deadline (their send guard
      // re-decides there); one learned too late is told as overdue at once.
      if (left <= 0) this.#markOverdue(userId);
      else this.#notify(userId);
    }
    this.#reloadUser(userId, seq);
  }

  #markOverdue(userId: string): void {
    if (this.#stopped || !this.#pending.has(userId) || this.#overdue.has(userId)) return;
    this.#overdue.add(userId);
    this.#logger.warn({ userId }, 'entitlement change not applied in time: real time withheld from the user');
    this.#notify(userId);
  }

  /** Data including every change up to `seq` is in for `userId`: a pending change at or below is done. */
  #applied(userId: string, seq: number): void {
    const pending = this.#pending.get(userId);
    if (!pending || pending.seq > seq) return;
    clearTimeout(pending.overdue);
    this.#pending.delete(userId);
    this.#overdue.delete(userId);
  }

  /**
   * One verification: reads the head and learns of every change above what the cache has. Runs on
   * an interval; while one is stuck (a locked table) the next ones are skipped and the staleness
   * timer, not the query, decides when real time stops.
   */
  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    const started = this.#now();
    try {
      const head = await readChangeHead(this.#db);
      if (head !== this.#head) await this.#catchUp(head);
      if (this.#stopped) return;
      if (this.#pollFailing) this.#logger.info('entitlement verification is succeeding again');
      this.#pollFailing = false;
      this.#verifiedAt(started);
    } catch (err) {
      if (!this.#pollFailing && !this.#stopped) {
        this.#logger.error({ err }, 'entitlement verification failed; real time stops if it keeps failing');
      }
      this.#pollFailing = true;
    } finally {
      this.#polling = false;
    }
  }

  async #catchUp(head: number): Promise<void> {
    const behind = head - this.#head;
    const rows =
      behind > 0 && behind <= MAX_CHANGES_PER_POLL
        ? await changesBetween(this.#db, this.#head, head)
        : undefined;
    if (this.#stopped) return;
    if (rows && rows.length === behind) {
      this.#head = Math.max(this.#head, head);
      for (const row of rows) this.#learn(row.userId, row.seq, row.at);
      return;
    }
    // Too far behind, changes pruned before this edge saw them, or a head that went backwards (a
    // restored database): only a full reload can say what changed.
    this.#withhold('entitlement changes cannot be listed one by one: real time withheld until reloaded');
    if (head < this.#head) {
      this.#appliedSeq.clear();
      this.#fullHead = 0;
    }
    this.#head = head;
    void this.#reloadAll();
  }

  /** A head read that started at `at` succeeded: the cache is fresh until `at + 2 × interval`. */
  #verifiedAt(at: number): void {
    clearTimeout(this.#stale);
    const left = at + 2 * this.#verifyIntervalMs - this.#now();
    // A read that took longer than the bound proves nothing about now: stay (or go) stale.
    if (left <= 0) {
      this.#goStale();
      return;
    }
    this.#stale = setTimeout(() => this.#goStale(), left);
    this.#stale.unref();
    if (this.#fresh) return;
    this.#fresh = true;
    this.#logger.info('entitlements verified again: real time resumes');
    for (const userId of this.#users.keys()) this.#notify(userId);
  }

  #goStale(): void {
    if (!this.#fresh || this.#stopped) return;
    this.#fresh = false;
    this.#logger.warn('entitlements could not be verified in time: real time withheld until they are');
    for (const userId of this.#users.keys()) this.#notify(userId);
  }

  /** Reloads `userId`; `seq`, when given, is the change that asks for it. */
  #reloadUser(userId: string, seq?: number): void {
    if (this.#stopped) return;
    const running = this.#reloading.get(userId);
    if (running) {
      // A change the running load already includes (the notice and the poll both announce each
      // one) needs no second load, which could wait behind every other user's.
      if (seq === undefined || !Number.isFinite(running.known) || seq > running.known) running.again = true;
      return;
    }
    const state = { again: true, known: 0 };
    this.#reloading.set(userId, state);
    void (async () => {
      try {
        while (state.again && !this.#stopped) {
          state.again = false;
          const order = ++this.#seq;
          // Learnt of before the load began, hence committed before it: the load includes it, as
          // it includes every change up to the head read in its snapshot.
          const known = this.#pending.get(userId)?.seq ?? 0;
          state.known = known;
          const loaded = await this.#inTurn(() => loadState(this.#db, [userId], this.#defaultSessionLimit));
          if (this.#stopped) return;
          this.#applyUser(userId, order, loaded.users.get(userId), loaded.tokens);
          const includes = Number.isFinite(known) ? Math.max(known, loaded.head) : loaded.head;
          this.#appliedSeq.set(userId, Math.max(this.#appliedSeq.get(userId) ?? this.#fullHead, includes));
          this.#applied(userId, Math.max(known, loaded.head));
          // Every load that is in is told at once: sessions re-decide only when told, and another
          // reload of the user may wait its turn behind others (found by the drill at market load).
          this.#notify(userId);
        }
      } catch (err) {
        if (this.#stopped) return;
        this.#logger.error({ err, userId }, 'entitlements reload failed; retrying');
        this.#retry(() => this.#reloadUser(userId));
      } finally {
        this.#reloading.delete(userId);
      }
    })();
  }

  /** Runs `load` once fewer than MAX_CONCURRENT_RELOADS per-user reloads are running. */
  async #inTurn<T>(load: () => Promise<T>): Promise<T> {
    if (this.#reloadsRunning >= MAX_CONCURRENT_RELOADS)
      await new Promise<void>((resolve) => this.#reloadTurns.push(resolve));
    this.#reloadsRunning++;
    try {
      return await load();
    } finally {
      this.#reloadsRunning--;
      this.#reloadTurns.shift()?.();
    }
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
        this.#fullHead = loaded.head;
        this.#head = Math.max(this.#head, loaded.head);
        for (const [userId, applied] of this.#appliedSeq) {
          if (applied <= loaded.head) this.#appliedSeq.delete(userId);
        }
        for (const userId of [...this.#pending.keys()]) this.#applied(userId, loaded.head);
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
