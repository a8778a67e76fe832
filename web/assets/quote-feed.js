/**
 * The board's connection to `/stocks`, Polygon's protocol: `connected` → auth → `auth_success` →
 * subscribe. It reconnects by itself with exponential backoff (and jitter, so a hub restart is
 * not met by every browser at once), resubscribes, and stops for good only when the token is
 * refused, since retrying a refused token cannot succeed.
 */

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;
/** The hub takes at most 1 000 channels in one message (distribution/options.ts). */
const SYMBOLS_PER_MESSAGE = 300;

/** The channels the board shows for a symbol: its quotes, trades, and LULD bands and halts. */
function channels(symbol) {
  return [`Q.${symbol}`, `T.${symbol}`, `LULD.${symbol}`];
}

export class QuoteFeed {
  #url;
  #token;
  #handlers;
  #symbols = new Set();
  #ws = null;
  #attempt = 0;
  #timer = null;
  #stopped = false;
  /** Authenticated: subscriptions can be sent and data flows. */
  #live = false;

  /**
   * @param {object} options
   * @param {string} options.url the WebSocket address of `/stocks`
   * @param {string} options.token the user token, sent only in the auth message
   * @param {(state: {name: string, detail?: string, retryAt?: number, attempt?: number}) => void} options.onState
   * @param {(status: object) => void} options.onStatus statuses other than the connection's own
   * @param {(event: object) => void} options.onEvent quote, trade and LULD events (an LULD names
   *   its symbol `T`, the others `sym`)
   */
  constructor({ url, token, onState, onStatus, onEvent }) {
    this.#url = url;
    this.#token = token;
    this.#handlers = { onState, onStatus, onEvent };
  }

  start() {
    this.#stopped = false;
    this.#connect();
    window.addEventListener('online', this.#reconnectNow);
  }

  stop() {
    this.#stopped = true;
    window.removeEventListener('online', this.#reconnectNow);
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, 'signed out');
    this.#handlers.onState({ name: 'stopped' });
  }

  subscribe(symbols) {
    for (const symbol of symbols) this.#symbols.add(symbol);
    this.#send('subscribe', symbols);
  }

  unsubscribe(symbols) {
    for (const symbol of symbols) this.#symbols.delete(symbol);
    this.#send('unsubscribe', symbols);
  }

  #send(action, symbols) {
    if (this.#ws?.readyState !== WebSocket.OPEN || !this.#live || symbols.length === 0) return;
    // Three channels a symbol: a long watchlist is sent in parts, each within the hub's limit of
    // channels per message.
    for (let i = 0; i < symbols.length; i += SYMBOLS_PER_MESSAGE) {
      const part = symbols.slice(i, i + SYMBOLS_PER_MESSAGE);
      this.#ws.send(JSON.stringify({ action, params: part.flatMap(channels).join(',') }));
    }
  }

  #connect() {
    clearTimeout(this.#timer);
    this.#live = false;
    this.#handlers.onState({ name: 'connecting', attempt: this.#attempt });
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    ws.addEventListener('message', (message) => {
      if (this.#ws === ws) this.#receive(ws, message.data);
    });
    ws.addEventListener('close', (event) => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#live = false;
      if (!this.#stopped) this.#retry(event.reason);
    });
  }

  #reconnectNow = () => {
    if (this.#stopped || this.#ws) return;
    this.#connect();
  };

  #retry(reason) {
    const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.#attempt);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    this.#attempt++;
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#handlers.onState({
      name: 'waiting',
      detail: reason,
      retryAt: Date.now() + delay,
      attempt: this.#attempt,
    });
  }

  /** The token is refused: retrying cannot help, so the feed stops and says why. */
  #reject(message) {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    this.#live = false;
    ws?.close(1000);
    this.#handlers.onState({ name: 'rejected', detail: message });
  }

  #receive(ws, data) {
    let messages;
    try {
      messages = JSON.parse(data);
    } catch {
      return;
    }
    if (!Array.isArray(messages)) return;
    for (const message of messages) {
      if (message === null || typeof message !== 'object') continue;
      if (message.ev === 'Q' || message.ev === 'T' || message.ev === 'LULD') this.#handlers.onEvent(message);
      else if (message.ev === 'status') this.#status(ws, message);
    }
  }

  #status(ws, status) {
    switch (status.status) {
      case 'connected':
        ws.send(JSON.stringify({ action: 'auth', params: this.#token }));
        this.#handlers.onState({ name: 'authenticating' });
        return;
      case 'auth_success':
        this.#attempt = 0;
        this.#live = true;
        this.#handlers.onState({ name: 'live' });
        this.#send('subscribe', [...this.#symbols]);
        return;
      case 'auth_failed':
        this.#reject(String(status.message ?? 'authentication failed'));
        return;
      case 'error':
        // 401 after authenticating: the token was revoked while the session was open.
        if (status.code === 401 && this.#live) {
          this.#reject(String(status.message ?? 'your token was revoked'));
          return;
        }
        this.#handlers.onStatus(status);
        return;
      default:
        this.#handlers.onStatus(status);
    }
  }
}
