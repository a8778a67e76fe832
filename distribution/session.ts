/**
 * One client connection on `/stocks`: the protocol conversation (auth, subscribe, unsubscribe),
 * the subscriptions and their mode per product, decided once and re-decided only when the user's
 * entitlements change, the session slot, and the send path with its real-time guard.
 */
import { randomUUID } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { nextTransition, REASON_TEXT, type Reason } from '../entitlements/index.js';
import { type ChannelSpec, parseChannel, WILDCARD } from './channels.js';
import type { SymbolDirectory } from './directory.js';
import type { EntitlementView } from './entitlement-view.js';
import type { FanoutMember } from './fanout.js';
import { MeterCounts, type Metering } from './metering.js';
import type { EdgeStats } from './metrics.js';
import type { EdgeOptions } from './options.js';
import {
  delayWords,
  type ModeCode,
  modeCode,
  modeName,
  NONE,
  type ProductTable,
  REALTIME,
} from './products.js';
import {
  AUTH_SUCCESS,
  AUTH_TIMEOUT,
  CLOSE,
  type ClientMessage,
  errorStatus,
  frame,
  parseClientMessage,
  type StatusMessage,
  status,
} from './protocol.js';
import { authKey, type Bucket, type KeyedLimiter, take } from './rate-limit.js';
import type { Group, Router } from './routing.js';
import type { SlotHolder, SlotKeeper } from './session-slots.js';
import { Conflation, type EventTable, verdict } from './slow-consumer.js';

/** What a session needs from the edge it runs on. */
export interface SessionHost {
  readonly options: EdgeOptions;
  readonly products: ProductTable;
  readonly view: EntitlementView;
  readonly router: Router<Session>;
  readonly stats: EdgeStats;
  readonly metering: Metering;
  readonly slots: SlotKeeper;
  readonly directory: SymbolDirectory;
  readonly authLimiter: KeyedLimiter;
  now(): number;
  /** The user's concurrent-session limit. */
  sessionLimit(userId: string): number;
  /** The session authenticated. */
  opened(session: Session): void;
  /** The connection no longer waits to authenticate (it presented a valid token, or ended). */
  preauthEnded(session: Session): void;
  /** The connection ended; `wasOpen` when it had authenticated. */
  closed(session: Session, wasOpen: boolean): void;
  /** The session began conflating: the edge drains it until it catches up. */
  conflating(session: Session): void;
}

const AWAITING_AUTH = 0;
const AUTHENTICATING = 1;
const OPEN = 2;
const CLOSED = 3;

const TEXT = { binary: false } as const;
/** How long a closing socket may take to finish its close handshake before it is dropped. */
const CLOSE_GRACE_MS = 5_000;
const NO_METER = new MeterCounts(0);
const NO_SUBSCRIPTIONS: ReadonlyMap<string, ChannelSpec> = new Map();

/** Reports already made in one pass over many subscriptions, by product index (-1: every product). */
type ReportMemo = Map<number, ModeReport>;

/** A subscription's mode as a client is told it. */
interface ModeReport {
  mode: 'realtime' | 'delayed' | 'refused' | 'mixed';
  fields: Record<string, unknown>;
  /** In words, e.g. `real time` or `delayed by 15 minutes: There is no real-time subscription…`. */
  words: string;
}

export class Session implements FanoutMember, SlotHolder {
  readonly id = randomUUID();
  readonly #ws: WebSocket;
  readonly #host: SessionHost;
  /** The client's address (behind a trusted proxy, the one it forwarded). */
  readonly address: string;
  #state = AWAITING_AUTH;
  #authTimer: NodeJS.Timeout | undefined;
  /** Kept to notice its revocation, which ends the session. */
  #token = '';
  userId = '';
  deviceId: string | undefined;
  openedAt = 0;
  meter = NO_METER;
  slotHeld = false;
  openSessions = 0;
  group: Group<Session> | undefined;
  /** Per product index: the mode decided, and the reasons when it is not real time. */
  readonly modes: ModeCode[] = [];
  readonly #reasons: Reason[][] = [];
  /** Real time ends at the latest here (the user's next entitlement transition), whatever timers do. */
  realtimeUntil = Number.POSITIVE_INFINITY;
  #subscriptions: Map<string, ChannelSpec> | undefined;
  readonly #bucket: Bucket;
  #violations = 0;
  conflation: Conflation | undefined;
  #queue: Promise<void> | undefined;
  #endReason = 'client';

  constructor(ws: WebSocket, address: string, host: SessionHost) {
    this.#ws = ws;
    this.#host = host;
    this.address = address;
    this.#bucket = { tokens: host.options.messageBurst, at: host.now() };
    ws.on('message', (data) => this.#onMessage(data));
    ws.on('close', () => this.#closed());
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') host.stats.refuse('message_too_large');
    });
    this.#authTimer = setTimeout(() => this.#authTimeout(), host.options.authTimeoutMs);
  }

  /** The modes of the session's subscriptions, for the subscriptions gauge. */
  *subscriptionModes(): Iterable<string> {
    const memo: ReportMemo = new Map();
    for (const spec of this.#subscriptions?.values() ?? []) yield this.#report(spec, memo).mode;
  }

  /** The user's entitlements may have changed: re-check the token, then re-decide. */
  entitlementsChanged(): void {
    if (this.#state !== OPEN) return;
    if (this.#host.view.authenticate(this.#token)?.userId !== this.userId) {
      this.#send([
        errorStatus('not_authenticated', 'Your API token was revoked; connect again with a valid one.'),
      ]);
      this.#end(CLOSE.policy, 'token revoked', 'revoked');
      return;
    }
    this.#evaluate(this.#host.now(), true);
  }

  slotChanged(): void {
    if (this.#state === OPEN) this.#evaluate(this.#host.now(), true);
  }

  /** Closes the connection as the edge stops. */
  shutdown(): void {
    this.#end(CLOSE.goingAway, 'server shutting down', 'shutdown');
  }

  deliver(frame: Buffer, group: Group<Session>, table: EventTable, realtime: boolean, now: number): boolean {
    if (this.#state !== OPEN) return false;
    if (realtime && now >= this.realtimeUntil) {
      // A transition instant passed before its timer fired: re-decided before anything real time
      // goes out; a session whose modes changed has left this frame's group.
      this.#evaluate(now, true);
      if (this.group !== group) return false;
    }
    const options = this.#host.options;
    if (this.conflation === undefined) {
      const next = verdict(this.#ws.bufferedAmount, options);
      if (next === 'send') {
        this.#ws.send(frame, TEXT);
        this.#host.stats.framesSent++;
        this.#host.stats.bytesSent += frame.length;
        return true;
      }
      if (next === 'close') {
        this.#slow();
        return false;
      }
      this.conflation = new Conflation(now);
      this.#host.stats.conflations++;
      this.#host.conflating(this);
    }
    this.conflation.add(group.events, table, realtime);
    if (this.conflation.size > options.maxConflatedKeys) this.#slow();
    return false;
  }

  /**
   * For a conflating socket: sends what it holds once the socket has caught up, or closes it as a
   * slow client. True when the socket no longer conflates.
   */
  drain(now: number): boolean {
    const conflation = this.conflation;
    if (conflation === undefined || this.#state !== OPEN) return true;
    const options = this.#host.options;
    const queued = this.#ws.bufferedAmount;
    if (
      queued >= options.bufferMaxBytes ||
      (queued * 2 >= options.bufferHighBytes && now - conflation.since > options.conflateForMs)
    ) {
      this.#slow();
      return true;
    }
    if (queued * 2 >= options.bufferHighBytes) return false;
    if (now >= this.realtimeUntil) this.#evaluate(now, true);
    this.conflation = undefined;
    const { frame: held, realtime } = conflation.encode(this.modes.length);
    if (held !== undefined) {
      this.#ws.send(held, TEXT);
      this.#host.stats.framesSent++;
      this.#host.stats.bytesSent += held.length;
      this.#host.metering.count(this, realtime, now);
    }
    return true;
  }

  #onMessage(data: RawData): void {
    if (this.#state === CLOSED) return;
    const host = this.#host;
    const options = host.options;
    if (!take(this.#bucket, options.messageRate, options.messageBurst, host.now())) {
      host.stats.refuse('message_rate');
      if (++this.#violations > options.messageAbuseLimit) {
        this.#send([errorStatus('too_many_messages', 'Too many messages; the connection is closed.')]);
        this.#end(CLOSE.policy, 'too many messages', 'message_rate');
        return;
      }
      this.#send([
        errorStatus(
          'too_many_messages',
          `Too many messages: at most ${options.messageRate} a second (bursts of ${options.messageBurst}); this one was ignored.`,
        ),
      ]);
      return;
    }
    const text = Buffer.isBuffer(data)
      ? data.toString()
      : Array.isArray(data)
        ? Buffer.concat(data).toString()
        : Buffer.from(data).toString();
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      host.stats.refuse('invalid_message');
      this.#send([errorStatus('invalid_syntax', parsed.error)]);
      return;
    }
    // Handled one after another: a subscribe sent right after auth waits for the auth to finish.
    const previous = this.#queue ?? Promise.resolve();
    const current = previous
      .then(() => this.#handle(parsed.message))
      .catch(() => this.#end(CLOSE.internalError, 'internal error', 'internal_error'));
    this.#queue = current;
    void current.then(() => {
      if (this.#queue === current) this.#queue = undefined;
    });
  }

  async #handle(message: ClientMessage): Promise<void> {
    if (this.#state === CLOSED) return;
    if (message.action === 'auth') return this.#auth(message.token);
    if (this.#state !== OPEN) {
      this.#send([
        errorStatus(
          'not_authenticated',
          'Not authenticated: send {"action":"auth","params":"<your API token>"} first.',
        ),
      ]);
      return;
    }
    const most = this.#host.options.maxChannelsPerMessage;
    if (message.params.length > most) {
      this.#host.stats.refuse('too_many_channels');
      this.#send([
        errorStatus(
          'invalid_syntax',
          `This ${message.action} lists ${message.params.length} channels, more than the ${most} one message may list; nothing was done. Send them in several messages.`,
          { count: message.params.length },
        ),
      ]);
      return;
    }
    if (message.action === 'subscribe') return this.#subscribe(message.params);
    this.#unsubscribe(message.params);
  }

  async #auth(token: string): Promise<void> {
    const host = this.#host;
    if (this.#state !== AWAITING_AUTH) {
      this.#send([errorStatus('already_authenticated', 'This connection is already authenticated.')]);
      return;
    }
    const now = host.now();
    const key = authKey(this.address, token);
    if (!host.authLimiter.allows(key, now)) {
      host.stats.refuse('auth_rate_limited');
      this.#send([
        status(
          'auth_failed',
          'Too many failed authentication attempts from your address with this token; wait a minute and retry.',
        ),
      ]);
      this.#end(CLOSE.policy, 'too many authentication attempts', 'auth_failed');
      return;
    }
    const principal = host.view.authenticate(token);
    if (principal === undefined) {
      host.authLimiter.spend(key, now);
      host.stats.refuse('auth_failed');
      this.#send([status('auth_failed', 'authentication failed')]);
      this.#end(CLOSE.policy, 'authentication failed', 'auth_failed');
      return;
    }
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
    this.#state = AUTHENTICATING;
    host.preauthEnded(this);
    this.#token = token;
    this.userId = principal.userId;
    this.deviceId = principal.deviceId;
    await host.slots.open(this);
    if (this.#state !== AUTHENTICATING) {
      host.slots.close(this);
      return;
    }
    // A revocation that arrived while the slot was being taken found no open session to end:
    // the token is checked again before the session opens.
    if (host.view.authenticate(token)?.userId !== principal.userId) {
      host.stats.refuse('auth_failed');
      this.#send([status('auth_failed', 'authentication failed')]);
      this.#end(CLOSE.policy, 'authentication failed', 'auth_failed');
      return;
    }
    this.#state = OPEN;
    this.openedAt = host.now();
    const products = host.products.list.length;
    this.meter = new MeterCounts(products);
    for (let p = 0; p < products; p++) {
      this.modes.push(NONE);
      this.#reasons.push([]);
    }
    host.opened(this);
    this.#evaluate(this.openedAt, false);
    this.#sendText(AUTH_SUCCESS);
    if (this.#state !== OPEN) return;
    if (!this.slotHeld) {
      host.stats.refuse('session_limit');
      const limit = host.sessionLimit(this.userId);
      this.#send([
        errorStatus(
          'session_limit',
          `This account already has ${limit} session${limit === 1 ? '' : 's'} open, its limit: this connection gets delayed data only, and real time once another session closes.`,
        ),
      ]);
    }
  }

  /**
   * Decides every channel before anything is looked up: invalid ones and those beyond the symbol
   * limit are refused (all of a kind in one status, where the first of them was), and only the
   * new symbols that fit are looked up, together. The work per message is bounded by
   * `maxChannelsPerMessage` and the lookups by `maxSymbols`, whatever the client sends.
   */
  async #subscribe(params: readonly string[]): Promise<void> {
    const host = this.#host;
    const subscriptions = this.#subscriptions ?? NO_SUBSCRIPTIONS;
    const symbols = new Set<string>();
    for (const spec of subscriptions.values()) symbols.add(spec.sym);
    const max = host.options.maxSymbols;
    const accepted: ChannelSpec[] = [];
    const invalid: string[] = [];
    const overLimit: string[] = [];
    const lookups: string[] = [];
    const order: Array<ChannelSpec | typeof INVALID | typeof OVER_LIMIT> = [];
    for (const param of params) {
      const spec = parseChannel(param);
      if (spec === undefined) {
        if (invalid.length === 0) order.push(INVALID);
        invalid.push(param.slice(0, 40));
      } else if (subscriptions.has(param) || symbols.has(spec.sym) || symbols.size < max) {
        if (!symbols.has(spec.sym) && spec.sym !== WILDCARD) lookups.push(spec.sym);
        symbols.add(spec.sym);
        accepted.push(spec);
        order.push(spec);
      } else {
        if (overLimit.length === 0) order.push(OVER_LIMIT);
        overLimit.push(param);
      }
    }
    await host.directory.resolve(lookups);
    if (this.#state !== OPEN) return;
    this.#subscriptions ??= new Map();
    for (const spec of accepted) this.#subscriptions.set(spec.param, spec);
    host.router.place(this, this.#subscriptions, this.modes);
    const memo: ReportMemo = new Map();
    const replies = order.map((entry) => {
      if (entry === INVALID) {
        host.stats.refuse('invalid_channel');
        return invalidChannels(invalid);
      }
      if (entry === OVER_LIMIT) {
        host.stats.refuse('symbol_limit');
        return symbolLimit(overLimit, max);
      }
      return this.#subscribed(entry, memo);
    });
    this.#send(replies);
  }

  #unsubscribe(params: readonly string[]): void {
    const host = this.#host;
    const invalid: string[] = [];
    const replies: Array<StatusMessage | typeof INVALID> = [];
    for (const param of params) {
      if (parseChannel(param) === undefined) {
        if (invalid.length === 0) replies.push(INVALID);
        invalid.push(param.slice(0, 40));
        continue;
      }
      this.#subscriptions?.delete(param);
      replies.push(status('success', `unsubscribed to: ${param}`));
    }
    if (invalid.length > 0) host.stats.refuse('invalid_channel');
    host.router.place(this, this.#subscriptions ?? NO_SUBSCRIPTIONS, this.modes);
    this.#send(replies.map((reply) => (reply === INVALID ? invalidChannels(invalid) : reply)));
  }

  #subscribed(spec: ChannelSpec, memo: ReportMemo): StatusMessage {
    const report = this.#report(spec, memo);
    if (report.mode !== 'realtime') {
      const reason = report.fields.reason;
      this.#host.stats.refuse(typeof reason === 'string' ? reason : 'mixed');
    }
    if (report.mode === 'refused') {
      return errorStatus(
        'insufficient_entitlement',
        `Not entitled to ${spec.param}: ${report.words} You stay subscribed and get data once that changes.`,
        { params: spec.param, ...report.fields },
      );
    }
    const message = `subscribed to: ${spec.param}`;
    return status(
      'success',
      report.mode === 'realtime' ? message : `${message} (${report.words})`,
      report.fields,
    );
  }

  /**
   * Decides every product for the user now; when a mode changed, regroups. If asked, tells the
   * client about every subscription whose mode or reasons changed.
   */
  #evaluate(now: number, announce: boolean): void {
    const host = this.#host;
    const products = host.products.list;
    const sessions = this.slotHeld ? undefined : this.openSessions;
    const changed: boolean[] = [];
    let modesChanged = false;
    let realtime = false;
    for (let p = 0; p < products.length; p++) {
      const decision = host.view.decide(this.userId, (products[p] as { id: string }).id, now, sessions);
      const code = modeCode(decision.mode);
      const reasons = this.#reasons[p] ?? [];
      changed[p] =
        this.modes[p] !== code ||
        reasons.length !== decision.reasons.length ||
        reasons.some((reason, index) => reason !== decision.reasons[index]);
      if (this.modes[p] !== code) modesChanged = true;
      this.modes[p] = code;
      this.#reasons[p] = decision.reasons;
      if (code === REALTIME) realtime = true;
    }
    const snapshot = realtime ? host.view.snapshot(this.userId) : undefined;
    this.realtimeUntil = (snapshot && nextTransition(snapshot, now)) ?? Number.POSITIVE_INFINITY;
    if (modesChanged) {
      this.conflation?.dropRealtime(this.modes);
      host.router.place(this, this.#subscriptions ?? NO_SUBSCRIPTIONS, this.modes);
    }
    if (announce && changed.some(Boolean)) this.#announce(changed);
  }

  #announce(changed: readonly boolean[]): void {
    const statuses: StatusMessage[] = [];
    const memo: ReportMemo = new Map();
    for (const spec of this.#subscriptions?.values() ?? []) {
      if (!this.#productsOf(spec).some((p) => changed[p])) continue;
      const report = this.#report(spec, memo);
      statuses.push(
        status('mode', `${spec.param} is now ${report.words}`, { params: spec.param, ...report.fields }),
      );
    }
    if (statuses.length > 0) this.#send(statuses);
  }

  /** The products a subscription may carry: its symbol's, or all of them when unknown or `*`. */
  #productsOf(spec: ChannelSpec): number[] {
    const known = spec.sym === WILDCARD ? undefined : this.#host.directory.get(spec.sym);
    return known === undefined ? this.modes.map((_, p) => p) : [known];
  }

  /**
   * The mode of a subscription as the client is told it. It depends only on the products the
   * channel may carry, so `memo` keeps one report per product (and one for "all") while many
   * channels are reported at once.
   */
  #report(spec: ChannelSpec, memo: ReportMemo): ModeReport {
    const known = spec.sym === WILDCARD ? undefined : this.#host.directory.get(spec.sym);
    const key = known ?? -1;
    let report = memo.get(key);
    if (report === undefined) {
      report = this.#reportFor(known === undefined ? this.modes.map((_, p) => p) : [known]);
      memo.set(key, report);
    }
    return report;
  }

  #reportFor(products: readonly number[]): ModeReport {
    const host = this.#host;
    const first = products[0] as number;
    const same = products.every((p) => this.modes[p] === this.modes[first]);
    if (same) return this.#single(products);
    const perProduct: Record<string, unknown> = {};
    const parts: string[] = [];
    for (const p of products) {
      const report = this.#single([p]);
      perProduct[(host.products.list[p] as { id: string }).id] = { mode: report.mode, ...report.fields };
      parts.push(`${(host.products.list[p] as { id: string }).id}: ${report.words}`);
    }
    return { mode: 'mixed', fields: { mode: 'mixed', products: perProduct }, words: parts.join('; ') };
  }

  /** The mode of products that share one. */
  #single(products: readonly number[]): ModeReport {
    const code = this.modes[products[0] as number] as ModeCode;
    const mode = modeName(code);
    if (code === REALTIME) return { mode, fields: { mode }, words: 'real time' };
    const reasons = [...new Set(products.flatMap((p) => this.#reasons[p] ?? []))];
    const text = reasons.map((reason) => REASON_TEXT[reason]).join(' ');
    const delay = Math.max(...products.map((p) => this.#host.products.list[p]?.delayMs ?? 0));
    const words = code === NONE ? `refused: ${text}` : `delayed by ${delayWords(delay)}: ${text}`;
    return { mode, fields: { mode, reason: reasons[0], reasons }, words };
  }

  #authTimeout(): void {
    this.#authTimer = undefined;
    if (this.#state !== AWAITING_AUTH) return;
    this.#host.stats.refuse('auth_timeout');
    this.#sendText(AUTH_TIMEOUT);
    this.#end(CLOSE.policy, 'authentication timeout', 'auth_timeout');
  }

  /**
   * Closes a socket that has waited to authenticate while newer ones from its address queue up
   * (the edge's per-address cap): it is told why, as on an authentication timeout.
   */
  evictUnauthenticated(message: string): void {
    if (this.#state !== AWAITING_AUTH) return;
    this.#host.stats.refuse('preauth_limit');
    this.#sendText(frame([errorStatus('too_many_connections', message)]));
    this.#end(CLOSE.policy, 'too many unauthenticated connections', 'preauth_limit');
  }

  #slow(): void {
    if (this.#state === CLOSED) return;
    this.#host.stats.slowConsumerCloses++;
    this.#host.stats.refuse('slow_client');
    // The one frame past the bound: the client learns why once it reads again.
    this.#ws.send(SLOW_CLIENT);
    this.#end(CLOSE.policy, 'slow client', 'slow_client');
  }

  #send(statuses: readonly StatusMessage[]): void {
    if (statuses.length > 0) this.#sendText(frame(statuses));
  }

  /**
   * Every frame that is not data — statuses, errors, acknowledgements — goes out here, under the
   * same bound as data: a socket whose queue reached `bufferMaxBytes` is closed as slow (407)
   * instead of queueing more, so a client that asks and never reads holds at most that much.
   */
  #sendText(text: string): void {
    if (this.#state === CLOSED) return;
    if (verdict(this.#ws.bufferedAmount, this.#host.options) === 'close') {
      this.#slow();
      return;
    }
    this.#ws.send(text);
  }

  /** Starts closing the socket and ends the session now; the socket is dropped if the close stalls. */
  #end(code: number, reason: string, why: string): void {
    if (this.#state === CLOSED) return;
    this.#endReason = why;
    this.#ws.close(code, reason);
    const ws = this.#ws;
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    this.#closed();
  }

  #closed(): void {
    if (this.#state === CLOSED) return;
    const wasOpen = this.#state === OPEN;
    const authenticating = this.#state === AUTHENTICATING;
    const awaiting = this.#state === AWAITING_AUTH;
    this.#state = CLOSED;
    if (awaiting) this.#host.preauthEnded(this);
    clearTimeout(this.#authTimer);
    this.#authTimer = undefined;
    this.conflation = undefined;
    const host = this.#host;
    host.router.leave(this);
    if (wasOpen || authenticating) host.slots.close(this);
    host.closed(this, wasOpen);
  }

  get endReason(): string {
    return this.#endReason;
  }
}

const INVALID = 0;
const OVER_LIMIT = 1;

const SLOW_CLIENT = frame([
  errorStatus(
    'slow_client',
    'Your connection did not read data fast enough and is closed. Subscribe to fewer symbols or read faster.',
  ),
]);

const CHANNEL_SYNTAX = 'write TYPE.SYMBOL, such as T.AAPL, Q.MSFT or Q.* (types T, Q, A, AM)';

/** One status for every param of a message that is not a channel (each shown up to 40 characters). */
function invalidChannels(params: readonly string[]): StatusMessage {
  const [first] = params as [string];
  if (params.length === 1) {
    return errorStatus('invalid_syntax', `${first} is not a channel: ${CHANNEL_SYNTAX}.`, { params: first });
  }
  return errorStatus(
    'invalid_syntax',
    `${params.length} params are not channels (${first}, …): ${CHANNEL_SYNTAX}.`,
    { params: params.join(','), count: params.length },
  );
}

/** One status for every channel of a message refused for the connection's symbol limit. */
function symbolLimit(params: readonly string[], max: number): StatusMessage {
  const [first] = params as [string];
  const what = params.length === 1 ? first : `${params.length} channels (${first}, …)`;
  return errorStatus(
    'symbol_limit',
    `Not subscribed to ${what}: this connection already has ${max} symbols, the most allowed (a * counts as one). Unsubscribe from some first.`,
    params.length === 1 ? { params: first } : { params: params.join(','), count: params.length },
  );
}
