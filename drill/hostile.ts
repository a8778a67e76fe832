/**
 * Hostile client traffic against a live edge: what a broken or malicious app sends. Each probe
 * states what the edge must answer; the drill records what it did. The probes connect from
 * 127.0.0.2 so the address-wide authentication lockout they trigger does not lock the drill's
 * honest clients (on 127.0.0.1) out as well.
 */
import WebSocket from 'ws';

export interface ProbeResult {
  probe: string;
  expected: string;
  observed: string;
  ok: boolean;
}

const HOSTILE_ADDRESS = '127.0.0.2';

interface Conversation {
  messages: Array<Record<string, unknown>>;
  closeCode?: number;
}

/** Opens a socket, optionally authenticates, runs `script`, and collects what came back. */
async function converse(
  url: string,
  token: string | undefined,
  script: (ws: WebSocket) => void,
  waitMs: number,
): Promise<Conversation> {
  const ws = new WebSocket(url, { localAddress: HOSTILE_ADDRESS, perMessageDeflate: false });
  const out: Conversation = { messages: [] };
  await new Promise<void>((resolve) => {
    let started = false;
    const begin = () => {
      if (started) return;
      started = true;
      script(ws);
      setTimeout(resolve, waitMs);
    };
    ws.on('message', (data: Buffer) => {
      for (const m of JSON.parse(data.toString()) as Array<Record<string, unknown>>) {
        out.messages.push(m);
        if (m.status === 'connected') {
          if (token === undefined) begin();
          else ws.send(JSON.stringify({ action: 'auth', params: token }));
        }
        if (m.status === 'auth_success') begin();
      }
    });
    ws.on('close', (code) => {
      out.closeCode = code;
      resolve();
    });
    ws.on('error', () => resolve());
  });
  ws.terminate();
  return out;
}

const errorsWith = (c: Conversation, code: number) =>
  c.messages.filter((m) => m.status === 'error' && m.code === code).length;

/** Channels with distinct symbols of at most three letters, to fit 10 000 into one 64 KiB message. */
function manyChannels(n: number): string {
  const out: string[] = [];
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  for (let i = 0; out.length < n; i++) {
    let sym = '';
    for (let v = i; ; v = Math.floor(v / 26) - 1) {
      sym = letters[v % 26] + sym;
      if (v < 26) break;
    }
    out.push(`Q.${sym}`);
  }
  return out.join(',');
}

/**
 * Runs every probe against `url` (a `/stocks` URL) with `token` (a valid user token of a user the
 * drill's ground truth leaves out).
 */
export async function hostileTraffic(url: string, token: string): Promise<ProbeResult[]> {
  const results: ProbeResult[] = [];
  const record = (probe: string, expected: string, observed: string, ok: boolean) =>
    results.push({ probe, expected, observed, ok });

  const oversized = await converse(url, token, (ws) => ws.send('x'.repeat(100 * 1024)), 1_000);
  record(
    'oversized frame (100 KiB)',
    'closed with 1009',
    `closed with ${oversized.closeCode}`,
    oversized.closeCode === 1009,
  );

  const invalid = await converse(
    url,
    token,
    (ws) => {
      ws.send('{not json');
      ws.send(JSON.stringify({ action: 'launch', params: 'x' }));
      ws.send(JSON.stringify({ action: 'subscribe', params: 42 }));
    },
    500,
  );
  record(
    'invalid JSON, unknown action, params not a string',
    '3 errors with code 400, socket open',
    `${errorsWith(invalid, 400)} errors 400, ${invalid.closeCode === undefined ? 'open' : `closed ${invalid.closeCode}`}`,
    errorsWith(invalid, 400) === 3 && invalid.closeCode === undefined,
  );

  const channels = manyChannels(10_000);
  const many = await converse(
    url,
    token,
    (ws) => ws.send(JSON.stringify({ action: 'subscribe', params: channels })),
    2_000,
  );
  // More than 1 000 channels in one message is refused whole, with one 400 (docs/distribution.md).
  const subscribed = many.messages.filter((m) => m.status === 'success').length;
  const refused = errorsWith(many, 400);
  record(
    `10 000 subscribe params (${Math.round(channels.length / 1024)} KiB)`,
    'refused whole with one 400, nothing subscribed, socket open',
    `${subscribed} subscribed, ${refused} × 400, ${many.closeCode === undefined ? 'open' : `closed ${many.closeCode}`}`,
    subscribed === 0 && refused === 1 && many.closeCode === undefined,
  );

  const flood = await converse(
    url,
    token,
    (ws) => {
      for (let i = 0; i < 200; i++) ws.send(JSON.stringify({ action: 'unsubscribe', params: 'Q.AA0' }));
    },
    1_000,
  );
  record(
    'message flood (200 messages at once)',
    'refused with 429, then closed with 1008',
    `${errorsWith(flood, 429)} refused 429, closed ${flood.closeCode}`,
    errorsWith(flood, 429) > 0 && flood.closeCode === 1008,
  );

  const attempts: Conversation[] = [];
  for (let i = 0; i < 40; i++) attempts.push(await converse(url, `mdu_guess_${i}`, () => undefined, 0));
  const limitedAt = attempts.findIndex((c) =>
    c.messages.some((m) => m.status === 'auth_failed' && String(m.message).startsWith('Too many')),
  );
  const honest = await converse(url, token, () => undefined, 200);
  const honestRefused = !honest.messages.some((m) => m.status === 'auth_success');
  record(
    'auth brute force (40 wrong tokens from one address)',
    'rate-limited after the burst of 20; the address is locked out',
    `${limitedAt < 0 ? 'never rate-limited' : `rate-limited from attempt ${limitedAt + 1}`}; a valid token from the same address ${honestRefused ? 'refused too' : 'accepted'}`,
    limitedAt >= 0 && limitedAt <= 21 && attempts.every((c) => c.closeCode === 1008),
  );
  return results;
}
