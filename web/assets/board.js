/**
 * The quote board: sign in with a user token, keep a watchlist, show each symbol's quotes and
 * trades from `/stocks`, whether they are real time or delayed and why, how fresh they are, and
 * whether trading in the symbol is halted (from its LULD events).
 */
import { byId, el, tokenStore } from './dom.js';
import { QuoteFeed } from './quote-feed.js';

/** A symbol with no update for this long is shown as stale. */
const STALE_MS = 10_000;
const WATCHLIST_KEY = 'mdhub.board.watchlist';
/** The hub's own symbol syntax (distribution/channels.ts). */
const SYMBOL = /^[A-Z0-9][A-Z0-9.-]{0,19}$/;
/** LULD indicators (ingest/event.ts): a trading pause (halt), and trading resuming after one. */
const LULD_HALT = 17;
const LULD_RESUME = 18;

const token = tokenStore('mdhub.board.token');
const ui = {
  connection: byId('connection'),
  /** Spoken on each change of connection state; the visible line also counts down, which is not. */
  announce: byId('announce'),
  signOut: byId('sign-out'),
  signInSection: byId('sign-in-section'),
  signInForm: byId('sign-in-form'),
  signInToken: byId('sign-in-token'),
  signInError: byId('sign-in-error'),
  board: byId('board'),
  addForm: byId('add-form'),
  symbol: byId('symbol'),
  addError: byId('add-error'),
  notice: byId('notice'),
  rows: byId('quote-rows'),
  empty: byId('empty'),
};

/** symbol → its row and what is known about it. */
const rows = new Map();
let feed = null;
let feedState = { name: 'stopped' };

function loadWatchlist() {
  try {
    const list = JSON.parse(localStorage.getItem(WATCHLIST_KEY) ?? '[]');
    return Array.isArray(list) ? list.filter((s) => typeof s === 'string' && SYMBOL.test(s)) : [];
  } catch {
    return [];
  }
}

function saveWatchlist() {
  localStorage.setItem(WATCHLIST_KEY, JSON.stringify([...rows.keys()]));
}

function price(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(2) : '—';
}

function size(value) {
  return typeof value === 'number' && Number.isFinite(value) ? ` × ${value}` : '';
}

function addRow(symbol) {
  const cells = {
    bid: el('td', { class: 'num bid' }, '—'),
    ask: el('td', { class: 'num ask' }, '—'),
    last: el('td', { class: 'num last' }, '—'),
    time: el('td', { class: 'time' }, '—'),
    badge: el('strong', { class: 'badge' }, 'Subscribing…'),
    why: el('span', { class: 'why' }),
    fresh: el('td', { class: 'fresh' }, 'Waiting for first update'),
    halted: el('strong', { class: 'halt', hidden: true }, 'Halted'),
  };
  cells.name = el('th', { scope: 'row' }, symbol, ' ', cells.halted);
  const remove = el('button', { type: 'button', class: 'quiet', 'aria-label': `Remove ${symbol}` }, 'Remove');
  const tr = el(
    'tr',
    { 'data-symbol': symbol, 'data-mode': 'pending', 'data-fresh': 'waiting', 'data-halted': 'false' },
    cells.name,
    cells.bid,
    cells.ask,
    cells.last,
    cells.time,
    el('td', { class: 'mode' }, cells.badge, ' ', cells.why),
    cells.fresh,
    el('td', {}, remove),
  );
  remove.addEventListener('click', () => removeSymbol(symbol));
  ui.rows.append(tr);
  rows.set(symbol, { tr, cells, since: Date.now(), updatedAt: 0, delayedFrom: 0 });
  ui.empty.hidden = true;
}

function removeSymbol(symbol) {
  const row = rows.get(symbol);
  if (!row) return;
  row.tr.remove();
  rows.delete(symbol);
  saveWatchlist();
  feed?.unsubscribe([symbol]);
  ui.empty.hidden = rows.size > 0;
  ui.symbol.focus();
}

/** How a mode reads on the board, from the hub's own words (`delayed by 15 minutes: …`). */
function describe(mode, words) {
  if (mode === 'realtime') return { label: 'Real time', why: 'Your account is licensed for this data.' };
  if (mode === 'delayed') {
    const match = /^delayed by ([^:]+): ([\s\S]*)$/.exec(words);
    return match ? { label: `Delayed ${match[1]}`, why: match[2] } : { label: 'Delayed', why: words };
  }
  if (mode === 'refused') return { label: 'Not available', why: words.replace(/^refused: /, '') };
  return { label: 'Mixed', why: words };
}

function showMode(symbol, mode, words) {
  const row = rows.get(symbol);
  if (!row) return;
  const { label, why } = describe(mode, words);
  row.tr.dataset.mode = mode;
  row.cells.badge.textContent = label;
  row.cells.why.textContent = why;
}

/** The symbol a channel (`Q.AAPL`, `LULD.AAPL`) names, when it is on the watchlist. */
function symbolOf(channel) {
  const match = /^(?:Q|T|LULD)\.(.+)$/.exec(String(channel ?? ''));
  return match && rows.has(match[1]) ? match[1] : undefined;
}

function onStatus(status) {
  const message = String(status.message ?? '');
  if (status.status === 'success') {
    const match = /^subscribed to: (\S+)(?: \(([\s\S]*)\))?$/.exec(message);
    const symbol = match && symbolOf(match[1]);
    if (symbol) {
      showMode(symbol, String(status.mode ?? 'realtime'), match[2] ?? '');
      // A delayed subscription the hub has nothing to send for yet says when it will; the quote
      // channel speaks for the row (trades and LULD bands are rarer).
      const row = rows.get(symbol);
      if (match[1].startsWith('Q.')) {
        row.delayedFrom = typeof status.delayedFrom === 'number' ? status.delayedFrom : 0;
        showFreshness(row, Date.now());
      }
    }
    return;
  }
  if (status.status === 'mode') {
    const symbol = symbolOf(status.params);
    const words = message.replace(/^\S+ is now /, '');
    if (symbol && status.mode === 'realtime') rows.get(symbol).delayedFrom = 0;
    if (symbol) showMode(symbol, String(status.mode ?? ''), words);
    return;
  }
  if (status.status === 'error') {
    const symbol = symbolOf(status.params);
    if (symbol && status.mode === 'refused') {
      showMode(symbol, 'refused', message);
    } else if (symbol) {
      const row = rows.get(symbol);
      row.tr.dataset.mode = 'error';
      row.cells.badge.textContent = 'Not subscribed';
      row.cells.why.textContent = message;
    } else {
      ui.notice.textContent = message;
    }
  }
}

function money(value) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(2) : '?';
}

/**
 * An LULD event: a halt (17) marks the row until a resumption (18) clears it; a band with neither
 * leaves the mark as it is. The band itself is the symbol's tooltip. It is not a quote or a trade,
 * so the row's time and freshness stay those of its market data.
 */
function showLuld(symbol, row, event) {
  const indicators = Array.isArray(event.i) ? event.i : [];
  row.cells.name.setAttribute('title', `Limit Up-Limit Down band: ${money(event.l)} to ${money(event.h)}`);
  let halted = row.tr.dataset.halted === 'true';
  if (indicators.includes(LULD_HALT)) halted = true;
  else if (indicators.includes(LULD_RESUME)) halted = false;
  if (halted === (row.tr.dataset.halted === 'true')) return;
  row.tr.dataset.halted = String(halted);
  row.cells.halted.hidden = !halted;
  ui.announce.textContent = halted ? `${symbol}: trading halted` : `${symbol}: trading resumed`;
}

function onEvent(event) {
  const symbol = event.ev === 'LULD' ? event.T : event.sym;
  const row = rows.get(symbol);
  if (!row) return;
  if (event.ev === 'LULD') {
    showLuld(symbol, row, event);
    return;
  }
  if (event.ev === 'Q') {
    row.cells.bid.textContent = price(event.bp) + size(event.bs);
    row.cells.ask.textContent = price(event.ap) + size(event.as);
  } else {
    row.cells.last.textContent = price(event.p) + size(event.s);
  }
  if (typeof event.t === 'number') {
    const time = new Date(event.t);
    row.cells.time.textContent = time.toLocaleTimeString([], { hour12: false });
    row.cells.time.setAttribute('title', time.toISOString());
  }
  row.updatedAt = Date.now();
  showFreshness(row, row.updatedAt);
}

function showFreshness(row, now) {
  let state;
  let text;
  if (feedState.name !== 'live') {
    state = 'disconnected';
    text = 'Disconnected: what is shown may be old';
  } else if (row.updatedAt === 0 && row.delayedFrom > now - STALE_MS) {
    state = 'waiting';
    const at = new Date(row.delayedFrom).toLocaleTimeString([], { hour12: false });
    const minutes = Math.ceil((row.delayedFrom - now) / 60_000);
    text =
      row.delayedFrom > now
        ? `Delayed data starts at ${at} (in ${minutes} min)`
        : `Delayed data starts about now (${at})`;
  } else if (row.updatedAt === 0) {
    const waited = now - Math.max(row.since, feedState.since ?? 0);
    state = waited > STALE_MS ? 'stale' : 'waiting';
    text =
      waited > STALE_MS ? `Stale: no data for ${Math.round(waited / 1000)} s` : 'Waiting for first update';
  } else if (now - row.updatedAt > STALE_MS) {
    state = 'stale';
    text = `Stale: no update for ${Math.round((now - row.updatedAt) / 1000)} s`;
  } else {
    state = 'fresh';
    text = 'Fresh';
  }
  if (row.tr.dataset.fresh !== state) row.tr.dataset.fresh = state;
  if (row.cells.fresh.textContent !== text) row.cells.fresh.textContent = text;
}

function connectionText(state, now) {
  switch (state.name) {
    case 'connecting':
      return state.attempt > 0 ? `Reconnecting (attempt ${state.attempt + 1})…` : 'Connecting…';
    case 'authenticating':
      return 'Signing in…';
    case 'live':
      return 'Connected: data is live';
    case 'waiting': {
      const seconds = Math.max(0, Math.ceil((state.retryAt - now) / 1000));
      return `Disconnected. Reconnecting in ${seconds} s (attempt ${state.attempt}).`;
    }
    default:
      return 'Signed out';
  }
}

function showConnection(now) {
  ui.connection.dataset.state = feedState.name;
  const text = connectionText(feedState, now);
  if (ui.connection.textContent !== text) ui.connection.textContent = text;
}

function onState(state) {
  feedState = { ...state, since: Date.now() };
  if (state.name === 'rejected') {
    signOut(`Your token was not accepted (${state.detail}). Sign in with a valid one.`);
    return;
  }
  if (state.name === 'connecting' && state.attempt === 0) ui.notice.textContent = '';
  ui.announce.textContent = connectionText(feedState, Date.now());
  tick();
}

function tick() {
  const now = Date.now();
  showConnection(now);
  for (const row of rows.values()) showFreshness(row, now);
}

function startFeed() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  feed = new QuoteFeed({
    url: `${scheme}//${location.host}/stocks`,
    token: token.get(),
    onState,
    onStatus,
    onEvent,
  });
  feed.subscribe([...rows.keys()]);
  feed.start();
}

function signIn() {
  ui.signInSection.hidden = true;
  ui.board.hidden = false;
  ui.signOut.hidden = false;
  ui.signInError.textContent = '';
  startFeed();
}

function signOut(error = '') {
  const current = feed;
  feed = null;
  current?.stop();
  feedState = { name: 'stopped' };
  token.clear();
  for (const symbol of [...rows.keys()]) rows.get(symbol).tr.remove();
  rows.clear();
  for (const symbol of loadWatchlist()) addRow(symbol);
  ui.board.hidden = true;
  ui.signOut.hidden = true;
  ui.signInSection.hidden = false;
  ui.signInError.textContent = error;
  ui.signInToken.value = '';
  ui.signInToken.focus();
  tick();
}

ui.signInForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = ui.signInToken.value.trim();
  if (!value) return;
  ui.signInToken.value = '';
  token.set(value);
  signIn();
});

ui.signOut.addEventListener('click', () => signOut());

ui.addForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const symbol = ui.symbol.value.trim().toUpperCase();
  if (!SYMBOL.test(symbol)) {
    ui.addError.textContent = 'A symbol is letters and digits (also . and -), such as AAPL or BRK.B.';
    return;
  }
  if (rows.has(symbol)) {
    ui.addError.textContent = `${symbol} is already on your watchlist.`;
    return;
  }
  ui.addError.textContent = '';
  ui.symbol.value = '';
  addRow(symbol);
  saveWatchlist();
  feed?.subscribe([symbol]);
});

for (const symbol of loadWatchlist()) addRow(symbol);
ui.empty.hidden = rows.size > 0;
setInterval(tick, 1000);
if (token.get()) signIn();
else ui.signInToken.focus();
