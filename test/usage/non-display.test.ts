/**
 * Non-display use end to end, in the embedded default with every role in one process: a token
 * issued for an application through the admin API, a socket and a REST snapshot through the edge
 * receiving real time, the meter committing the usage, and the usage report counting it under
 * `non_display` and not as a display subscriber. Then who may read the new reports.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Hub, ROLES, startHub } from '../../app/hub.js';
import { STARTERS } from '../../app/roles.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { silentLogger } from '../../platform/logger.js';

interface Row {
  product: string;
  category: string;
  subscribers: number;
  queries: number;
  fee: string;
}
interface Detail {
  product: string;
  category: string;
  user: string;
  accessed: boolean;
}
interface Report {
  rows: Row[];
  details: Detail[];
}

let hub: Hub;
let dataDir: string;
let origin: string;
const adminToken = `mdo_${randomBytes(32).toString('base64url')}`;

async function call(token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(origin + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await call(adminToken, method, path, body);
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** A user with real time on CTA_A and one token issued for `usage`. */
async function userWithToken(id: string, usage: 'display' | 'non_display'): Promise<string> {
  await admin('POST', '/admin/users', { id, name: `Test ${id}`, address: `${id} St 1` });
  await admin('POST', `/admin/users/${id}/agreements`, { product: 'CTA_A' });
  await admin('PUT', `/admin/users/${id}/entitlements/CTA_A`, { realtime: true });
  return (await admin<{ token: string }>('POST', `/admin/users/${id}/tokens`, { usage })).token;
}

/** Opens `/stocks` with `token`, subscribes to every quote and resolves with the first Tape A symbol received in real time. */
function firstTapeAQuote(token: string): Promise<string> {
  const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/stocks`);
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no Tape A quote within 15 s')), 15_000);
    ws.on('error', reject);
    ws.on('message', (data) => {
      for (const message of JSON.parse(String(data)) as Array<Record<string, unknown>>) {
        if (message.status === 'connected') ws.send(JSON.stringify({ action: 'auth', params: token }));
        if (message.status === 'auth_success')
          ws.send(JSON.stringify({ action: 'subscribe', params: 'Q.*' }));
        if (message.status === 'auth_failed') reject(new Error('auth failed'));
        if (message.ev === 'Q' && message.z === 1 && typeof message.sym === 'string') {
          clearTimeout(timer);
          resolve(message.sym);
        }
      }
    });
  }).finally(() => ws.close());
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'mdhub-non-display-'));
  const env = parseEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    MDHUB_LOG_LEVEL: 'silent',
    MDHUB_DATA_DIR: dataDir,
    MDHUB_ADMIN_TOKEN: adminToken,
    MDHUB_DELAY_MS: '2000',
    MDHUB_SYNTHETIC_SYMBOLS: '24',
    MDHUB_SYNTHETIC_RATE: '600',
  });
  hub = await startHub({
    env,
    catalog: loadCatalog(undefined, env.MDHUB_DELAY_MS),
    logger: silentLogger,
    roles: [...ROLES],
    starters: STARTERS,
  });
  origin = `http://127.0.0.1:${hub.port}`;
}, 60_000);

afterAll(async () => {
  await hub?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('non-display use', () => {
  it('is counted under non_display, with its snapshot, and never as a display subscriber', {
    timeout: 60_000,
  }, async () => {
    const machine = await userWithToken('algo-desk', 'non_display');
    await userWithToken('ann-display', 'display');
    // The edge learns of new tokens through the change feed: retry until it knows this one.
    let symbol: string | undefined;
    for (let attempt = 0; symbol === undefined; attempt++) {
      try {
        symbol = await firstTapeAQuote(machine);
      } catch (error) {
        if (attempt > 20) throw error;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const month = new Date().toISOString().slice(0, 7);
    const snapshot = await fetch(`${origin}/v1/last/quote/${symbol}?apiKey=${machine}`);
    expect(((await snapshot.json()) as { mode: string }).mode).toBe('realtime');

    let report: Report | undefined;
    const deadline = Date.now() + 20_000;
    for (;;) {
      report = await admin<Report>('GET', `/admin/reports/usage?month=${month}&detail=1`);
      const row = report.rows.find((r) => r.product === 'CTA_A' && r.category === 'non_display');
      if (row?.queries === 1 && report.details.some((d) => d.user === 'algo-desk' && d.accessed)) break;
      if (Date.now() > deadline)
        throw new Error(`the report never showed the use: ${JSON.stringify(report.rows)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(report.rows.filter((r) => r.product === 'CTA_A')).toEqual([
      { product: 'CTA_A', category: 'non_display', subscribers: 1, devices: 1, queries: 1, fee: '45.000000' },
      {
        product: 'CTA_A',
        category: 'non_professional',
        subscribers: 0,
        devices: 0,
        queries: 0,
        fee: '0.000000',
      },
      {
        product: 'CTA_A',
        category: 'professional',
        subscribers: 1,
        devices: 0,
        queries: 0,
        fee: '45.000000',
      },
    ]);
    expect(report.details.filter((d) => d.user === 'algo-desk').map((d) => [d.product, d.category])).toEqual([
      ['CTA_A', 'non_display'],
    ]);
    expect(report.details.filter((d) => d.category === 'professional').map((d) => d.user)).toEqual([
      'ann-display',
    ]);
    // ann never used her grant: finance sees her, and not the application, among the unused.
    const unused = await admin<{ rows: Array<{ user: string; category: string; fee: string }> }>(
      'GET',
      `/admin/reports/unused?month=${month}`,
    );
    expect(unused.rows.map((r) => [r.user, r.category, r.fee])).toEqual([
      ['ann-display', 'professional', '45.000000'],
    ]);
    const licensor = await call(
      adminToken,
      'GET',
      `/admin/reports/usage?month=${month}&licensor=CTA&format=csv`,
    );
    expect(await licensor.text()).toContain('\nNETWORK_A,non_display,1,1,45.000000\n');
  });

  it('lets admin, compliance and finance read the licensor files and the unused list, and not support', async () => {
    const month = new Date().toISOString().slice(0, 7);
    const tokens: Record<string, string> = { admin: adminToken };
    for (const role of ['compliance', 'finance', 'support'])
      tokens[role] = (
        await admin<{ token: string }>('POST', '/admin/operators', { id: `nd-${role}`, role })
      ).token;
    for (const [role, token] of Object.entries(tokens)) {
      const expected = role === 'support' ? 403 : 200;
      for (const path of [
        `/admin/reports/unused?month=${month}`,
        `/admin/reports/usage?month=${month}&licensor=UTP`,
      ]) {
        const res = await call(token, 'GET', path);
        expect(res.status, `${role} ${path}`).toBe(expected);
      }
    }
  });
});
