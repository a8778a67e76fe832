/**
 * One client connection on `/stocks`: the protocol conversation (auth, subscribe, unsubscribe),
 * the subscriptions and their mode per product, decided once and re-decided only when the user's
 * entitlements change, the session slot, its keepalive, and the send path with its real-time
 * guard. What it tells the client is worded in `statuses.ts`; what a subscribe may take is planned
 * in `subscriptions.ts`; when a reconnect of the same device replaces it, in `takeover.ts`.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { RawData, WebSocket } from 'ws';
import { deliveryRate, nextTransition, type Reason, type TokenUsage } from '../entitlements/index.js';
import type { Quote, Trade } from '../ingest/index.js';
import type { Retention, ShardEntry, TickStreams } from '../platform/bus/index.js';
import { CHANNEL_TYPES, type ChannelSpec, WILDCARD } from './channels.js';
import { DeliveryThrottle } from './delivery-rate.js';
import type { SymbolDirectory } from './directory.js';
import type { EntitlementView } from './entitlement-view.js';
import type { FanoutMember } from './fanout.js';
import type { ReleasedValues } from './last-value.js';
import { MeterCounts, type Metering } from './metering.js';
import type { EdgeStats } from './metrics.js';
import type { EdgeOptions } from './options.js';
import { DELAYED, type ModeCode, modeCode, NONE, type ProductTable, REALTIME } from './products.js';
import {
  AUTH_SUCCESS,
  AUTH_TIMEOUT,
  CLOSE,
  type ClientMessage,
  errorStatus,
  frame,
  parseClientMessage,
  type StatusMessage,
} from './protocol.js';
import { authKey, type Bucket, type KeyedLimiter, take } from './rate-limit.js';
import { ChannelSet, checkResume, parseResume, type ResumeFrom, replay, replayFrame } from './resume.js';
import {
  RESUME_AFTER_SUBSCRIBE,
  RESUME_PENDING,
  RESUME_READY,
  RESUME_UNAVAILABLE,
  RESUME_WITH_SNAPSHOT,
  resumeAhead,
  resumeBehind,
  resumed,
  resumeGap,
} from './resume-statuses.js';
import type { Group, Router } from './routing.js';
import type { SlotHolder, SlotKeeper } from './session-slots.js';
import { Conflation, type EventTable, encodeFrame, verdict } from './slow-consumer.js';
import {
  ALREADY_AUTHENTICATED,
  AUTH_FAILED,
  AUTH_RATE_LIMITED,
  invalidChannels,
  MESSAGES_ABUSED,
  type ModeReport,
  modeChanged,
  modeReport,
  NOT_AUTHENTICATED,
  SESSION_REPLACED,
  SLOW_CLIENT,
  sessionLimit,
  subscribed,
  symbolLimit,
  TOKEN_REVOKED,
  tooManyChannels,
  tooManyMessages,
  unsubscribed,
  withSnapshot,
} from './statuses.js';
import type { StreamOffsets } from './stream-offsets.js';
import {
  type LiveValues,
  NO_LIVE_VALUES,
  pickSnapshot,
  readLiveValues,
  type SnapshotPick,
} from './subscribe-snapshot.js';
import { INVALID, OVER_LIMIT, planSubscribe, planUnsubscribe } from './subscriptions.js';
import { replaceDead, replaceUnanswering, type TakeoverCandidate } from './takeover.js';

/** What a session needs from the edge it runs on; its delay lines' released values, for delayed snapshots. */
export interface SessionHost extends ReleasedValues {
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
  /** When delayed data of a symbol on a product can first arrive; undefined once it flows (`DelayLines.firstDelayedAt`). */
  firstDelayedAt(product: number, type: number, sym: string): number | undefined;
  /** The user's concurrent-session limit. */
  sessionLimit(userId: string): number;
  /** The open sessions on this edge of the same user and device as `session` (none without a device). */
  sameDevice(session: Session): Session[];
  /** Asks the other edges to replace the device's sessions that do not answer (takeover.ts, step 3). */
  takeOverElsewhere(session: Session): Promise<void>;
  /** The last quotes or trades of `syms` ingest wrote (the last-value cache), null where none. */
  readLastValues(type: 'Q' | 'T', syms: readonly string[]): Promise<Array<Quote | Trade | null>>;
  /** The session authenticated. */
  opened(session: Session): void;
  /** The connection no longer waits to authenticate (it presented a valid token, or ended). */
  preauthEnded(session: Session): void;
  /** The connection ended; `wasOpen` when it had authenticated. */
  closed(session: Session, wasOpen: boolean): void;
  /** The session began conflating: the edge drains it until it catches up. */
  conflating(session: Session): void;
  /** The live reader's positions and the streams' epochs (stream-offsets.ts). */
  readonly offsets: StreamOffsets;
  /** The tick streams, for replays. */
  readonly ticks: TickStreams;
  /** Every shard's retention now; refreshes the epochs the offsets carry. */
  retention(): Promise<Retention[]>;
  /** Per product: vendor times from here on are still held by its delay line. */
  heldFrom(product: number): number;
}

const AWAITING_AUTH = 0;
const AUTHENTICATING = 1;
const OPEN = 2;
const CLOSED = 3;
/** `WebSocket.OPEN` (the `ws` import here is types only). */
const WS_OPEN = 1;

const TEXT = { binary: false } as const;
/** How long a closing socket may take to finish its close handshake before it is dropped. */
const CLOSE_GRACE_MS = 5_000;
const NO_METER = new MeterCounts(0);
const NO_SUBSCRIPTIONS: ReadonlyMap<string, ChannelSpec> = new Map();
const REPLACED = frame([SESSION_REPLACED]);
const RELEASED: Promise<void> = Promise.resolve();
/** How long a replay waits for this edge to read as far as an offset from another edge. */
const REPLAY_BEHIND_WAIT_MS = 2_000;

/** Reports already made in one pass over many subscriptions, by product index (-1: every product). */
type ReportMemo = Map<number, ModeReport>;

export class Session implements FanoutMember, SlotHolder, TakeoverCandidate {
  readonly id = randomUUID();
  readonly #ws: WebSocket;
  readonly #host: SessionHost;
  /** The client's address (behind a trusted proxy, the one it forwarded). */
  readonly address: string;
  /** Which slice of the edge's keepalive interval pings this session (edge.ts), set once at accept. */
  keepaliveSlice = 0;
  #state = AWAITING_AUTH;
  #authTimer: NodeJS.Timeout | undefined;
  /** Kept to notice its revocation, which ends the session. */
  #token = '';
  userId = '';
  deviceId: string | undefined;
  usage: TokenUsage | undefined;
  openedAt = 0;
  meter = NO_METER;
  slotHeld = false;
  openSessions = 0;
  group: Group<Session> | undefined;
  /** Per product index: the mode decided, and the reasons when it is not real time. */
  readonly modes: ModeCode[] = [];
  readonly #reasons: Reason[][] = [];
  /** Per product index: the delivery rate in force (updates a second per symbol), undefined for none. */
  readonly #rates: Array<number | undefined> = [];
  /** Holds what goes over the rates; only while some product has one (delivery-rate.ts). */
  #throttle: DeliveryThrottle | undefined;
  /** Real time ends at the latest here (the user's next entitlement transition), whatever timers do. */
  realtimeUntil = Number.POSITIVE_INFINITY;
  #subscriptions: Map<string, ChannelSpec> | undefined;
  readonly #bucket: Bucket;
  #violations = 0;
  conflation: Conflation | undefined;
  #queue: Promise<void> | undefined;
  #endReason = 'client';
  /** When the ping still unanswered was sent (`performance.now()`), 0 when none is. */
  #pingSentAt = 0;
  /** Probes waiting for a pong. */
  #probes: Array<(alive: boolean) => void> | undefined;
  /** Resolves once the slot store has freed the session's slot after it ended. */
  #released = RELEASED;
  /** The client asked for offsets (subscribe `"offsets":true`, or resume). */
  #offsets = false;
  /** Where the next subscribe replays from: a resume accepted and not yet used. */
  #resumeFrom: ResumeFrom | undefined;
  #replaying = false;

  constructor(ws: WebSocket, address: string, host: SessionHost) {
    this.#ws = ws;
    this.#host = host;
    this.address = address;
    this.#bucket = { tokens: host.options.messageBurst, at: host.now() };
    ws.on('message', (data) => this.#onMessage(data));
    ws.on('close', () => this.#closed());
    ws.on('pong', () => this.#ponged());
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
      this.#send([TOKEN_REVOKED]);
      this.#end(CLOSE.policy, 'token revoked', 'revoked');
      return;
    }
    this.#evaluate(this.#host.now(), true);
  }

  slotChanged(): void {
    if (this.#state === OPEN) this.#evaluate(this.#host.now(), true);
  }

  /**
   * The edge's keepalive, every `pingIntervalMs`: a socket that has not answered the previous ping
   * is terminated (nothing is sent: it does not read), any other is pinged. A ping a takeover's
   * probe sent moments ago is left the probe window to be answered.
   */
  keepalive(): void {
    if (this.#state === CLOSED) return;
    // Between turns a placed, non-conflating session has everything up to the live positions: a
    // quiet subscription's offsets move on too, so they stay inside the retained window.
    if (
      this.#offsets &&
      this.#state === OPEN &&
      !this.#replaying &&
      this.conflation === undefined &&
      this.#subscriptions !== undefined &&
      this.#host.offsets.ready
    )
      this.#sendBuffer(this.#host.offsets.fullFrame());
    if (this.#pingSentAt === 0) {
      this.#ping();
      return;
    }
    if (!this.looksDead()) return;
    this.#host.stats.keepaliveTerminations++;
    this.#endReason = 'keepalive';
    this.#ws.terminate();
    this.#closed();
  }

  looksDead(): boolean {
    return this.#pingSentAt !== 0 && performance.now() - this.#pingSentAt >= this.#probeMs();
  }

  probe(): Promise<boolean> {
    if (this.#state === CLOSED) return Promise.resolve(false);
    if (this.#pingSentAt === 0) this.#ping();
    const wait = Math.max(0, this.#pingSentAt + this.#probeMs() - performance.now());
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(false), wait);
      const settle = (alive: boolean) => {
        clearTimeout(timer);
        resolve(alive);
      };
      this.#probes ??= [];
      this.#probes.push(settle);
    });
  }

  replace(): Promise<void> {
    if (this.#state === CLOSED) return this.#released;
    this.#host.stats.takeovers++;
    // Past the queue bound too: it is the last frame, and the client should learn why it went.
    this.#ws.send(REPLACED);
    this.#end(CLOSE.replaced, 'session replaced', 'replaced');
    return this.#released;
  }

  #probeMs(): number {
    const options = this.#host.options;
    return Math.min(options.takeoverProbeMs, options.pingIntervalMs);
  }

  /**
   * Open, and its socket too: once the client's close frame is in (the socket closing, its
   * `close` event still to come) `ws` drops what is sent, so nothing is sent or metered.
   */
  get #writable(): boolean {
    return this.#state === OPEN && this.#ws.readyState === WS_OPEN;
  }

  #ping(): void {
    this.#pingSentAt = performance.now();
    this.#ws.ping();
  }

  #ponged(): void {
    this.#pingSentAt = 0;
    this.#settleProbes(true);
  }

  #settleProbes(alive: boolean): void {
    const probes = this.#probes;
    if (probes === undefined) return;
    this.#probes = undefined;
    for (const settle of probes) settle(alive);
  }

  /** Closes the connection as the edge stops. */
  shutdown(): void {
    this.#end(CLOSE.goingAway, 'server shutting down', 'shutdown');
  }

  deliver(frame: Buffer, group: Group<Session>, table: EventTable, realtime: boolean, now: number): boolean {
    if (!this.#writable) return false;
    if (realtime && now >= this.realtimeUntil) {
      // A transition instant passed before its timer fired: re-decided before anything real time
      // goes out; a session whose modes changed has left this frame's group.
      this.#evaluate(now, true);
      if (this.group !== group) {
        this.#host.stats.realtimeWithheld++;
        return false;
      }
    }
    if (this.#throttle !== undefined) return this.#deliverRated(frame, group, table, realtime, now);
    return this.#sendData(frame, group.events, table, realtime, now);
  }

  /**
   * Sends a data frame (or, for a slow socket, holds its events); true when it was sent and its
   * real-time events count as delivered.
   */
  #sendData(
    frame: Buffer,
    events: readonly number[],
    table: EventTable,
    realtime: boolean,
    now: number,
  ): boolean {
    const options = this.#host.options;
    if (this.conflation === undefined) {
      const next = verdict(this.#ws.bufferedAmount, options);
      if (next === 'send') {
        this.#ws.send(frame, TEXT);
        this.#host.stats.framesSent++;
        this.#host.stats.bytesSent += frame.length;
        if (realtime && this.#offsets) this.#sendBuffer(this.#host.offsets.turnFrame());
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
    this.conflation.add(events, table, realtime);
    if (this.conflation.size > options.maxConflatedKeys) this.#slow();
    return false;
  }

  /**
   * The send path of a session with a delivery rate (delivery-rate.ts): the frame's events over
   * the rate are held, the others go out — in the group's frame itself when none was held. What
   * is sent of a trimmed frame is metered here, as it is.
   */
  #deliverRated(
    frame: Buffer,
    group: Group<Session>,
    table: EventTable,
    realtime: boolean,
    now: number,
  ): boolean {
    const throttle = this.#throttle as DeliveryThrottle;
    const events = throttle.admit(group.events, table, realtime ? REALTIME : DELAYED, now);
    if (events === group.events) return this.#sendData(frame, events, table, realtime, now);
    if (events.length === 0) return false;
    const parts = events.map((event) => table.json(event));
    if (!this.#sendData(encodeFrame(parts), events, table, realtime, now) || !realtime) return false;
    const counts = new Array<number>(this.modes.length).fill(0);
    for (const event of events) {
      const product = table.product(event);
      counts[product] = (counts[product] as number) + 1;
    }
    this.#host.metering.count(this, counts, now);
    return false;
  }

  /** The throttle's held values are due: out they go, as their interval's updates. */
  #releaseHeld(): void {
    const throttle = this.#throttle;
    if (throttle === undefined || !this.#writable) return;
    const now = this.#host.now();
    // The real-time guard of `deliver`: a value held in real time goes only while real time lasts.
    if (now >= this.realtimeUntil) this.#evaluate(now, true);
    if (this.#state !== OPEN) return;
    const released = throttle.take(now, REALTIME);
    if (!throttle.active) this.#throttle = undefined;
    if (released.length === 0) return;
    const options = this.#host.options;
    const next = this.conflation === undefined ? verdict(this.#ws.bufferedAmount, options) : 'conflate';
    if (next === 'close') {
      this.#slow();
      return;
    }
    if (next === 'conflate') {
      if (this.conflation === undefined) {
        this.conflation = new Conflation(now);
        this.#host.stats.conflations++;
        this.#host.conflating(this);
      }
      for (const value of released)
        this.conflation.keep(value.key, value.json, value.product, value.realtime);
      if (this.conflation.size > options.maxConflatedKeys) this.#slow();
      return;
    }
    const held = encodeFrame(released.map((value) => value.json));
    this.#ws.send(held, TEXT);
    this.#host.stats.framesSent++;
    this.#host.stats.bytesSent += held.length;
    let counts: number[] | undefined;
    for (const value of released) {
      if (!value.realtime) continue;
      counts ??= new Array<number>(this.modes.length).fill(0);
      counts[value.product] = (counts[value.product] as number) + 1;
    }
    if (counts !== undefined) this.#host.metering.count(this, counts, now);
  }

  /**
   * For a conflating socket: sends what it holds once the socket has caught up, or closes it as a
   * slow client. True when the socket no longer conflates.
   */
  drain(now: number): boolean {
    const conflation = this.conflation;
    if (conflation === undefined || !this.#writable) return true;
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
        this.#send([MESSAGES_ABUSED]);
        this.#end(CLOSE.policy, 'too many messages', 'message_rate');
        return;
      }
      this.#send([tooManyMessages(options.messageRate, options.messageBurst)]);
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
      this.#send([NOT_AUTHENTICATED]);
      return;
    }
    if (message.action === 'resume') return this.#resume(message.params);
    const most = this.#host.options.maxChannelsPerMessage;
    if (message.params.length > most) {
      this.#host.stats.refuse('too_many_channels');
      this.#send([tooManyChannels(message.action, message.params.length, most)]);
      return;
    }
    if (message.action === 'subscribe')
      return this.#subscribe(message.params, message.snapshot, message.offsets);
    this.#unsubscribe(message.params);
  }

  async #auth(token: string): Promise<void> {
    const host = this.#host;
    if (this.#state !== AWAITING_AUTH) {
      this.#send([ALREADY_AUTHENTICATED]);
      return;
    }
    const now = host.now();
    const key = authKey(this.address, token);
    if (!host.authLimiter.allows(key, now)) {
      host.stats.refuse('auth_rate_limited');
      this.#send([AUTH_RATE_LIMITED]);
      this.#end(CLOSE.policy, 'too many authentication attempts', 'auth_failed');
      return;
    }
    const principal = host.view.authenticate(token);
    if (principal === undefined) {
      host.authLimiter.spend(key, now);
      host.stats.refuse('auth_failed');
      this.#send([AUTH_FAILED]);
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
    this.usage = principal.usage;
    // A reconnect of the device takes the place of its sessions that stopped answering (takeover.ts).
    await replaceDead(host.sameDevice(this));
    await host.slots.open(this);
    if (!this.slotHeld && this.#state === AUTHENTICATING && this.deviceId !== undefined) {
      const here = host.sameDevice(this);
      if (here.length > 0) {
        if (await replaceUnanswering(here)) await host.slots.refresh(this);
      } else {
        await host.takeOverElsewhere(this);
        if (this.#state === AUTHENTICATING) await host.slots.refresh(this);
      }
    }
    if (this.#state !== AUTHENTICATING) {
      void host.slots.close(this);
      return;
    }
    // A revocation that arrived while the slot was being taken found no open session to end:
    // the token is checked again before the session opens.
    if (host.view.authenticate(token)?.userId !== principal.userId) {
      host.stats.refuse('auth_failed');
      this.#send([AUTH_FAILED]);
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
      this.#rates.push(undefined);
    }
    host.opened(this);
    this.#evaluate(this.openedAt, false);
    this.#sendText(AUTH_SUCCESS);
    if (this.#state !== OPEN) return;
    if (!this.slotHeld) {
      host.stats.refuse('session_limit');
      this.#send([sessionLimit(host.sessionLimit(this.userId))]);
    }
  }

  /**
   * Takes the channels `planSubscribe` accepts, looking up their new symbols before replying: the
   * mode a channel is reported in depends on its symbol's product. With `snapshot`, their live
   * values are read in the same wait, and each channel's snapshot is picked and sent with the
   * statuses, before anything of the stream can reach it (subscribe-snapshot.ts).
   */
  async #subscribe(params: readonly string[], snapshot: boolean, offsets: boolean): Promise<void> {
    const host = this.#host;
    const from = this.#resumeFrom;
    if (from !== undefined && snapshot) {
      this.#send([RESUME_WITH_SNAPSHOT]);
      return;
    }
    if (offsets) this.#offsets = true;
    const max = host.options.maxSymbols;
    const plan = planSubscribe(this.#subscriptions ?? NO_SUBSCRIPTIONS, params, max);
    const [, live] = await Promise.all([
      host.directory.resolve(plan.lookups),
      snapshot
        ? readLiveValues(plan.accepted, (type, syms) => host.readLastValues(type, syms))
        : NO_LIVE_VALUES,
    ]);
    if (this.#state !== OPEN) return;
    const now = host.now();
    // A snapshot is sent here, not through the fan-out: the real-time guard of `deliver` is applied first.
    if (snapshot && now >= this.realtimeUntil) {
      this.#evaluate(now, true);
      if (this.#state !== OPEN) return;
    }
    const subscriptions = this.#subscriptions ?? new Map<string, ChannelSpec>();
    for (const spec of plan.accepted) subscriptions.set(spec.param, spec);
    // A resuming session joins the fan-out only once its replay has caught up (#replay).
    if (from === undefined) {
      this.#subscriptions = subscriptions;
      host.router.place(this, subscriptions, this.modes);
    }
    const memo: ReportMemo = new Map();
    const picks = snapshot ? this.#pickSnapshots(plan.accepted, live, now) : undefined;
    const replies = plan.replies.map((entry) => {
      if (entry === INVALID) {
        host.stats.refuse('invalid_channel');
        return invalidChannels(plan.invalid);
      }
      if (entry === OVER_LIMIT) {
        host.stats.refuse('symbol_limit');
        return symbolLimit(plan.overLimit, max);
      }
      const report = this.#report(entry, memo);
      if (report.mode !== 'realtime') {
        const reason = report.fields.reason;
        host.stats.refuse(typeof reason === 'string' ? reason : 'mixed');
      }
      const reply = subscribed(entry.param, report, this.#firstDelayedAt(entry, report));
      const pick = picks?.get(entry.param);
      return pick === undefined ? reply : withSnapshot(reply, pick);
    });
    this.#send(replies);
    if (from !== undefined) {
      this.#resumeFrom = undefined;
      await this.#replay(from, subscriptions);
      return;
    }
    if (picks !== undefined) this.#sendSnapshots(picks, now);
    if (this.#offsets && host.offsets.ready) this.#sendBuffer(host.offsets.fullFrame());
  }

  /** Checks the offsets a client sent back; when the bus still holds what follows them, the next subscribe replays it. */
  async #resume(params: unknown): Promise<void> {
    const host = this.#host;
    if (this.#subscriptions !== undefined) return this.#send([RESUME_AFTER_SUBSCRIBE]);
    if (this.#resumeFrom !== undefined) return this.#send([RESUME_PENDING]);
    const parsed = parseResume(params, host.offsets.shards);
    if (!parsed.ok) {
      host.stats.refuse('invalid_message');
      return this.#send([errorStatus('invalid_syntax', parsed.error)]);
    }
    this.#offsets = true;
    let retention: Retention[] | undefined;
    try {
      retention = host.offsets.ready ? await host.retention() : undefined;
    } catch {
      retention = undefined;
    }
    if (this.#state !== OPEN) return;
    if (retention === undefined) return this.#send([RESUME_UNAVAILABLE]);
    const check = checkResume(parsed.points, retention);
    if (check.ok) {
      this.#resumeFrom = check.from;
      return this.#send([RESUME_READY]);
    }
    if ('ahead' in check) {
      host.stats.refuse('invalid_message');
      return this.#send([resumeAhead(check.ahead)]);
    }
    this.#send([resumeGap(check.gaps)]);
  }

  /**
   * Replays what `subscriptions` carried after `from`, then joins the fan-out where the replay
   * ended (resume.ts). Whatever stops the replay short, the session still goes live, told why.
   */
  async #replay(from: ResumeFrom, subscriptions: Map<string, ChannelSpec>): Promise<void> {
    const host = this.#host;
    const channels = new ChannelSet(subscriptions.values());
    const counted = { events: 0 };
    const join = (statuses: readonly StatusMessage[]): void => {
      this.#subscriptions = subscriptions;
      host.router.place(this, subscriptions, this.modes);
      this.#send(statuses);
      this.#sendBuffer(host.offsets.fullFrame());
    };
    this.#replaying = true;
    const outcome = await replay({
      ticks: host.ticks,
      from,
      live: host.offsets,
      readCount: host.options.readCount,
      behindWaitMs: REPLAY_BEHIND_WAIT_MS,
      send: (entries, positions) => this.#sendReplayed(entries, positions, channels, counted),
      join: () => join([resumed(counted.events)]),
    }).catch(() => 'failed' as const);
    this.#replaying = false;
    if (this.#state !== OPEN || outcome === 'joined' || outcome === 'stopped') return;
    join([outcome === 'failed' ? RESUME_UNAVAILABLE : resumeBehind(outcome.behind)]);
  }

  /**
   * One replayed frame, after the same real-time guard as `deliver`: the events in the mode the
   * user has now, real-time ones metered as deliveries. False once the session has ended.
   */
  #sendReplayed(
    entries: readonly ShardEntry[],
    positions: readonly string[],
    channels: ChannelSet,
    counted: { events: number },
  ): boolean {
    if (this.#state !== OPEN) return false;
    const host = this.#host;
    const now = host.now();
    if (now >= this.realtimeUntil) {
      this.#evaluate(now, true);
      if (this.#state !== OPEN) return false;
    }
    const out = replayFrame(entries, channels, {
      byTape: host.products.byTape,
      modes: this.modes,
      delays: host.products.list.map((product) => product.delayMs),
      heldFrom: (product) => host.heldFrom(product),
      now,
    });
    host.stats.malformedBatches += out.malformed;
    if (out.frame === undefined) return true;
    if (!this.#sendBuffer(out.frame)) return false;
    host.stats.framesSent++;
    host.stats.bytesSent += out.frame.length;
    counted.events += out.events;
    host.metering.count(this, out.realtime, now);
    const shards = [...new Set(entries.map((entry) => entry.shard))];
    return this.#sendBuffer(host.offsets.frameFor(shards, positions));
  }

  /** One snapshot per distinct channel accepted, in the client's order. */
  #pickSnapshots(accepted: readonly ChannelSpec[], live: LiveValues, now: number): Map<string, SnapshotPick> {
    const host = this.#host;
    const ctx = {
      products: host.products,
      modes: this.modes,
      released: host,
      productOf: (sym: string) => host.directory.get(sym),
      now,
    };
    const picks = new Map<string, SnapshotPick>();
    for (const spec of accepted) {
      if (!picks.has(spec.param)) picks.set(spec.param, pickSnapshot(spec, live, ctx));
    }
    return picks;
  }

  /** Sends the picked snapshots, each as its own frame, and meters the real-time ones sent. */
  #sendSnapshots(picks: ReadonlyMap<string, SnapshotPick>, now: number): void {
    const host = this.#host;
    let counts: number[] | undefined;
    for (const pick of picks.values()) {
      host.stats.snapshot(
        pick.state === 'sent' ? (pick.realtimeProduct >= 0 ? 'realtime' : 'delayed') : pick.state,
      );
      if (pick.frame === undefined || !this.#sendText(pick.frame)) continue;
      host.stats.framesSent++;
      host.stats.bytesSent += Buffer.byteLength(pick.frame);
      if (pick.realtimeProduct < 0) continue;
      counts ??= new Array<number>(this.modes.length).fill(0);
      counts[pick.realtimeProduct] = (counts[pick.realtimeProduct] as number) + 1;
    }
    if (counts !== undefined) host.metering.count(this, counts, now);
  }

  #unsubscribe(params: readonly string[]): void {
    const host = this.#host;
    const plan = planUnsubscribe(params);
    const replies = plan.replies.map((entry) => {
      if (entry === INVALID) return invalidChannels(plan.invalid);
      this.#subscriptions?.delete(entry);
      return unsubscribed(entry);
    });
    if (plan.invalid.length > 0) host.stats.refuse('invalid_channel');
    host.router.place(this, this.#subscriptions ?? NO_SUBSCRIPTIONS, this.modes);
    this.#send(replies);
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
    let ratesChanged = false;
    let realtime = false;
    const user = host.view.snapshot(this.userId);
    for (let p = 0; p < products.length; p++) {
      const id = (products[p] as { id: string }).id;
      const decision = host.view.decide(this.userId, id, now, sessions);
      const code = modeCode(decision.mode);
      const reasons = this.#reasons[p] ?? [];
      const rate = code === NONE ? undefined : deliveryRate(user, id, now);
      changed[p] =
        this.modes[p] !== code ||
        this.#rates[p] !== rate ||
        reasons.length !== decision.reasons.length ||
        reasons.some((reason, index) => reason !== decision.reasons[index]);
      if (this.modes[p] !== code) modesChanged = true;
      if (this.#rates[p] !== rate) ratesChanged = true;
      this.modes[p] = code;
      this.#rates[p] = rate;
      this.#reasons[p] = decision.reasons;
      if (code === REALTIME) realtime = true;
    }
    // Real time lasts until the user's next transition, or until a change the view knows of must
    // have been applied: the send guard re-decides at the earlier one.
    this.realtimeUntil = realtime
      ? Math.min(
          (user ? nextTransition(user, now) : undefined) ?? Number.POSITIVE_INFINITY,
          host.view.verifiedUntil(this.userId),
        )
      : Number.POSITIVE_INFINITY;
    if (modesChanged) {
      this.conflation?.dropRealtime(this.modes);
      this.#throttle?.dropStale(this.modes);
      host.router.place(this, this.#subscriptions ?? NO_SUBSCRIPTIONS, this.modes);
    }
    if (ratesChanged) this.#applyRates(now);
    if (announce && changed.some(Boolean)) this.#announce(changed);
  }

  /** Starts, retunes or lifts the throttle for the rates now in force. */
  #applyRates(now: number): void {
    if (this.#throttle === undefined) {
      if (this.#rates.every((rate) => rate === undefined)) return;
      this.#throttle = new DeliveryThrottle(this.modes.length, CHANNEL_TYPES.length, this.#host.stats, () =>
        this.#releaseHeld(),
      );
    }
    this.#throttle.setRates(this.#rates, now);
    if (this.#throttle.active) return;
    this.#throttle.stop();
    this.#throttle = undefined;
  }

  #announce(changed: readonly boolean[]): void {
    const statuses: StatusMessage[] = [];
    const memo: ReportMemo = new Map();
    // The clock as the status goes out, not the instant decided for (a turn's, which may be older):
    // `at` bounds when every frame before it was sent.
    const at = this.#host.now();
    for (const spec of this.#subscriptions?.values() ?? []) {
      if (!this.#productsOf(spec).some((p) => changed[p])) continue;
      statuses.push(modeChanged(spec.param, this.#report(spec, memo), at));
    }
    if (statuses.length > 0) this.#send(statuses);
  }

  /** The products a subscription may carry: its symbol's, or all of them when unknown or `*`. */
  #productsOf(spec: ChannelSpec): number[] {
    const known = spec.sym === WILDCARD ? undefined : this.#host.directory.get(spec.sym);
    return known === undefined ? this.modes.map((_, p) => p) : [known];
  }

  /** For a delayed subscription to one known symbol with nothing delayed to send yet: when it will be. */
  #firstDelayedAt(spec: ChannelSpec, report: ModeReport): number | undefined {
    if (report.mode !== 'delayed' || spec.sym === WILDCARD) return undefined;
    const product = this.#host.directory.get(spec.sym);
    return product === undefined ? undefined : this.#host.firstDelayedAt(product, spec.type, spec.sym);
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
      const products = known === undefined ? this.modes.map((_, p) => p) : [known];
      report = modeReport(products, this.modes, this.#reasons, this.#host.products.list, this.#rates);
      memo.set(key, report);
    }
    return report;
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

  /** A ready frame (offsets, replayed events) under the same bound as `#sendText`. */
  #sendBuffer(frame: Buffer): boolean {
    if (this.#state === CLOSED) return false;
    if (verdict(this.#ws.bufferedAmount, this.#host.options) === 'close') {
      this.#slow();
      return false;
    }
    this.#ws.send(frame, TEXT);
    return true;
  }

  #send(statuses: readonly StatusMessage[]): void {
    if (statuses.length > 0) this.#sendText(frame(statuses));
  }

  /**
   * Every frame that is not data — statuses, errors, acknowledgements — goes out here, under the
   * same bound as data: a socket whose queue reached `bufferMaxBytes` is closed as slow (407)
   * instead of queueing more, so a client that asks and never reads holds at most that much.
   */
  #sendText(text: string): boolean {
    if (this.#state === CLOSED) return false;
    if (verdict(this.#ws.bufferedAmount, this.#host.options) === 'close') {
      this.#slow();
      return false;
    }
    this.#ws.send(text);
    return true;
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
    this.#throttle?.stop();
    this.#throttle = undefined;
    this.#settleProbes(false);
    const host = this.#host;
    host.router.leave(this);
    // A replaced session's slot goes to the session replacing it, which takes it once it is freed.
    if (wasOpen || authenticating) this.#released = host.slots.close(this, this.#endReason === 'replaced');
    host.closed(this, wasOpen);
  }

  get endReason(): string {
    return this.#endReason;
  }
}
