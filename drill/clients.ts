/**
 * The client population: `ws` sockets speaking the `/stocks` protocol, each logging every event it
 * receives with the receipt time and the mode its subscription was in at that instant. A client
 * knows every edge's URL and, when its socket drops, reconnects to the next one, the way an app
 * behind a load balancer would.
 */
import WebSocket from 'ws';

/** Mode codes in the event log. */
export const DELAYED = 0;
export const REALTIME = 1;
export const UNKNOWN = 2;

/** Fields per event in `DrillClient.log`. */
export const LOG_FIELDS = 6;
/** Offsets of one event's fields in the log. */
export const F_RECV = 0;
export const F_T = 1;
export const F_Q = 2;
export const F_PRODUCT = 3;
export const F_MODE = 4;
export const F_SESSION = 5;

type Mode = 'realtime' | 'delayed' | 'refused' | 'mixed';

interface ChannelMode {
  mode: Mode;
  products?: Record<string, { mode: Mode }>;
}

interface StatusMessage {
  ev: 'status';
  status: string;
  message?: string;
  params?: string;
  mode?: Mode;
  reason?: string;
  products?: Record<string, { mode: Mode }>;
  /** On a live mode change: the edge's clock when it switched and sent the status. */
  at?: number;
}

export interface ModeChange {
  /** When the drill read it. */
  at: number;
  channel: string;
  mode: Mode;
  /** The machine reason the edge gave (`no_grant`, `unverified`, …), absent for real time. */
  reason?: string;
  products?: Record<string, { mode: Mode }>;
  /**
   * A live change's `at`: the edge's clock as it sent the status. Every frame read before it on
   * the same socket was sent before this instant.
   */
  sentAt?: number;
  /** The connection it came on (an index into `sessions`). */
  session: number;
  /** How many events the log held when it was read: the events before it on the socket. */
  afterEvents: number;
}

/** One connection of a client: which edge, when it was authenticated, when and how it ended. */
export interface ClientSession {
  edge: number;
  connectedAt: number;
  authAt?: number;
  subscribedAt?: number;
  closedAt?: number;
  closeCode?: number;
}

export interface ClientSpec {
  user: string;
  token: string;
  channels: string[];
  /**
   * The loopback address its sockets come from (default the system's choice, 127.0.0.1): a
   * thousand users are not one address, and the edge's per-address limits must see them as many.
   */
  address?: string;
}

/** The `i`th honest client's own loopback address: 127.0.1.1 …, 250 to a block. */
export function clientAddress(i: number): string {
  return `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
}

export interface Products {
  /** Product index of a tape (`z`), −1 when none. */
  byTape: readonly number[];
  ids: readonly string[];
}

export class DrillClient {
  /** Flat event log, `LOG_FIELDS` numbers per event (see the F_ offsets). */
  readonly log: number[] = [];
  readonly sessions: ClientSession[] = [];
  readonly modeChanges: ModeChange[] = [];
  readonly errors: Array<{ at: number; code?: number; message?: string }> = [];
  /** The newest vendor sequence number received in real time, and when. */
  lastRealtime = { q: 0, recv: 0 };
  readonly #edges: readonly string[];
  readonly #products: Products;
  readonly #modes = new Map<string, ChannelMode>();
  #edge: number;
  #ws: WebSocket | undefined;
  #stopped = false;
  #subscribed = false;

  constructor(
    readonly spec: ClientSpec,
    edges: readonly string[],
    firstEdge: number,
    products: Products,
  ) {
    this.#edges = edges;
    this.#edge = firstEdge % edges.length;
    this.#products = products;
  }

  get user(): string {
    return this.spec.user;
  }

  get current(): ClientSession | undefined {
    return this.sessions[this.sessions.length - 1];
  }

  /** Whether it is authenticated and its subscriptions are acknowledged. */
  get ready(): boolean {
    const s = this.current;
    return s !== undefined && s.closedAt === undefined && s.subscribedAt !== undefined;
  }

  get events(): number {
    return this.log.length / LOG_FIELDS;
  }

  /**
   * The latest instant the edge can have sent the `event`th logged event: its stamp (`at`) on the
   * next live mode status the same socket carried; undefined when none followed.
   */
  sentBy(event: number): number | undefined {
    const session = this.log[event * LOG_FIELDS + F_SESSION];
    return this.modeChanges.find(
      (m) => m.session === session && m.afterEvents > event && m.sentAt !== undefined,
    )?.sentAt;
  }

  connect(): void {
    if (this.#stopped) return;
    const session: ClientSession = { edge: this.#edge, connectedAt: Date.now() };
    this.sessions.push(session);
    this.#modes.clear();
    this.#subscribed = false;
    const ws = new WebSocket(this.#edges[this.#edge] as string, {
      perMessageDeflate: false,
      localAddress: this.spec.address,
    });
    this.#ws = ws;
    ws.on('message', (data: Buffer) => this.#message(data, session));
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      session.closedAt = Date.now();
      session.closeCode = code;
      if (this.#stopped) return;
      // Fail over: the next edge in the list, after a short pause so a dead one is not hammered.
      this.#edge = (this.#edge + 1) % this.#edges.length;
      setTimeout(() => this.connect(), 100 + Math.floor(Math.random() * 200));
    });
  }

  /** Stops receiving data but keeps the session, so delivery counters settle before it closes. */
  unsubscribe(): void {
    const ws = this.#ws;
    if (ws?.readyState === WebSocket.OPEN && this.#subscribed)
      ws.send(JSON.stringify({ action: 'unsubscribe', params: this.spec.channels.join(',') }));
  }

  close(): Promise<void> {
    this.#stopped = true;
    const ws = this.#ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2_000).unref();
    });
  }

  #message(data: Buffer, session: ClientSession): void {
    const recv = Date.now();
    let messages: unknown;
    try {
      messages = JSON.parse(data.toString());
    } catch {
      this.errors.push({ at: recv, message: 'server sent invalid JSON' });
      return;
    }
    if (!Array.isArray(messages)) return;
    const sessionIndex = this.sessions.length - 1;
    for (const m of messages as Array<Record<string, unknown>>) {
      if (m.ev === 'status') {
        this.#status(m as unknown as StatusMessage, recv, session);
        continue;
      }
      const product = this.#products.byTape[m.z as number] ?? -1;
      const mode = this.#modeOf(`${m.ev as string}.${m.sym as string}`, m.ev as string, product);
      this.log.push(recv, m.t as number, m.q as number, product, mode, sessionIndex);
      if (mode === REALTIME && (m.q as number) > this.lastRealtime.q)
        this.lastRealtime = { q: m.q as number, recv };
    }
  }

  #modeOf(channel: string, ev: string, product: number): number {
    const entry = this.#modes.get(channel) ?? this.#modes.get(`${ev}.*`);
    if (entry === undefined) return UNKNOWN;
    const mode =
      entry.mode === 'mixed' ? entry.products?.[this.#products.ids[product] ?? '']?.mode : entry.mode;
    return mode === 'realtime' ? REALTIME : mode === 'delayed' ? DELAYED : UNKNOWN;
  }

  #status(m: StatusMessage, at: number, session: ClientSession): void {
    switch (m.status) {
      case 'connected':
        this.#ws?.send(JSON.stringify({ action: 'auth', params: this.spec.token }));
        return;
      case 'auth_success':
        session.authAt = at;
        this.#ws?.send(JSON.stringify({ action: 'subscribe', params: this.spec.channels.join(',') }));
        return;
      case 'success': {
        const channel = /^subscribed to: (\S+)/.exec(m.message ?? '')?.[1];
        if (channel === undefined || m.mode === undefined) return;
        this.#setMode(channel, m, at);
        if (this.spec.channels.every((c) => this.#modes.has(c))) {
          session.subscribedAt ??= at;
          this.#subscribed = true;
        }
        return;
      }
      case 'mode':
        if (m.params !== undefined && m.mode !== undefined) this.#setMode(m.params, m, at);
        return;
      case 'error':
        this.errors.push({ at, code: (m as { code?: number }).code, message: m.message });
        return;
      default:
        return;
    }
  }

  #setMode(channel: string, m: StatusMessage, at: number): void {
    const mode = m.mode as Mode;
    this.#modes.set(channel, { mode, products: m.products });
    this.modeChanges.push({
      at,
      channel,
      mode,
      reason: m.reason,
      products: m.products,
      sentAt: m.status === 'mode' && typeof m.at === 'number' ? m.at : undefined,
      session: this.sessions.length - 1,
      afterEvents: this.events,
    });
  }
}
