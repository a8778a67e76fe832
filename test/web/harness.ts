/**
 * Browser tests' harness: a real hub with every role in one process (the embedded default: PGlite
 * in a temporary directory, the in-process bus, the synthetic market, a 2 s delay), users and
 * grants made through the admin API exactly as an operator would, and Debian's Chromium driven by
 * playwright-core. Nothing is downloaded: without /usr/bin/chromium the tests are skipped.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  chromium,
  type Page,
} from 'playwright-core';
import { expect } from 'vitest';
import WebSocket from 'ws';
import { type Hub, ROLES, startHub } from '../../app/hub.js';
import { STARTERS } from '../../app/roles.js';
import { loadCatalog, parseEnv } from '../../config/index.js';
import { silentLogger } from '../../platform/logger.js';
import { type UsageEvent, writeLedger } from '../../usage/index.js';

export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
export const SKIP_MESSAGE = `browser tests skipped: ${CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)`;

/** Set MDHUB_WEB_SCREENSHOTS=1 to refresh docs/screenshot-*.png from a run. */
export const SCREENSHOTS = process.env.MDHUB_WEB_SCREENSHOTS === '1';

export const DELAY_MS = 2_000;

/**
 * Chromium as CI runs it: headless, no sandbox (containers), nothing phoning home. Each launch
 * gets a fresh profile: Playwright makes a temporary `--user-data-dir` itself and deletes it on
 * close (it refuses the flag from us outside a persistent context, which could not give each test
 * a context of its own).
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * `expect.poll` with room for a loaded CI machine (its default gives up after 1 s): what the page
 * shows follows the hub asynchronously, and the whole suite runs in parallel with the browser.
 */
export function eventually<T>(read: () => Promise<T> | T, timeout = 5_000) {
  return expect.poll(read, { timeout });
}

/**
 * A context of its own per test (storage, cookies). Playwright waits 30 s for an element by
 * default; a shorter wait names the missing element well within the test's own time limit.
 */
export async function newContext(
  browser: Browser,
  options: BrowserContextOptions = {},
): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(5_000);
  return context;
}

export interface WebHub {
  hub: Hub;
  origin: string;
  adminToken: string;
  /** A call to the admin API as the first admin; throws on an error status. */
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startWebHub(): Promise<WebHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mdhub-web-'));
  const adminToken = `mdo_${randomBytes(32).toString('base64url')}`;
  const env = parseEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    MDHUB_LOG_LEVEL: 'silent',
    MDHUB_DATA_DIR: dataDir,
    MDHUB_ADMIN_TOKEN: adminToken,
    MDHUB_DELAY_MS: String(DELAY_MS),
    MDHUB_SYNTHETIC_SYMBOLS: '24',
    MDHUB_SYNTHETIC_RATE: '600',
    MDHUB_SESSION_LIMIT: '5',
  });
  const hub = await startHub({
    env,
    catalog: loadCatalog(undefined, env.MDHUB_DELAY_MS),
    logger: silentLogger,
    roles: [...ROLES],
    starters: STARTERS,
  });
  const origin = `http://127.0.0.1:${hub.port}`;
  return {
    hub,
    origin,
    adminToken,
    async admin<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await fetch(origin + path, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async stop() {
      await hub.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A user made through the admin API, real time on `realtime`, with a token of their own. */
export async function makeUser(web: WebHub, id: string, realtime: readonly string[] = []): Promise<string> {
  await web.admin('POST', '/admin/users', { id, name: `Test ${id}` });
  for (const product of realtime) {
    await web.admin('POST', `/admin/users/${id}/agreements`, { product });
    await web.admin('PUT', `/admin/users/${id}/entitlements/${product}`, { realtime: true });
  }
  const { token } = await web.admin<{ token: string }>('POST', `/admin/users/${id}/tokens`);
  return token;
}

/** An operator of `role`, made through the admin API; returns its token. */
export async function makeOperator(web: WebHub, id: string, role: string): Promise<string> {
  const { token } = await web.admin<{ token: string }>('POST', '/admin/operators', { id, role });
  return token;
}

/**
 * One symbol per tape (`z`) of the synthetic market, whose names are random: learnt the way a
 * client would, from a wildcard subscription, as a user entitled to every tape.
 */
export async function symbolsByTape(web: WebHub, token: string): Promise<Record<1 | 2 | 3, string>> {
  const ws = new WebSocket(`ws://127.0.0.1:${web.hub.port}/stocks`);
  const found = new Map<number, string>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no symbol on every tape within 30 s')), 30_000);
      ws.on('error', reject);
      ws.on('message', (data) => {
        for (const message of JSON.parse(String(data)) as Array<Record<string, unknown>>) {
          if (message.status === 'connected') ws.send(JSON.stringify({ action: 'auth', params: token }));
          if (message.status === 'auth_success')
            ws.send(JSON.stringify({ action: 'subscribe', params: 'Q.*' }));
          if (message.ev === 'Q' && typeof message.z === 'number' && typeof message.sym === 'string') {
            if (!found.has(message.z)) found.set(message.z, message.sym);
          }
        }
        if (found.has(1) && found.has(2) && found.has(3)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  } finally {
    ws.close();
  }
  return { 1: found.get(1)!, 2: found.get(2)!, 3: found.get(3)! };
}

/** Real-time use on `day` by `users`, written with the ledger's own write function, as the meter does. */
export async function seedRealtimeUse(
  web: WebHub,
  product: string,
  day: string,
  users: readonly string[],
): Promise<void> {
  const at = Date.parse(`${day}T15:00:00Z`);
  const events: UsageEvent[] = users.map((user) => ({
    v: 1,
    id: `seed-${product}-${day}-${user}`,
    edge: 'seed',
    at,
    day,
    user,
    device: null,
    kind: 'first_access',
    session: `seed-${user}`,
    product,
  }));
  await web.hub.ctx.db.transaction((tx) => writeLedger(tx, events));
}

/** The page's Web Storage, as the tests' Node-side types (no DOM library) can name it. */
type StorageArea = 'localStorage' | 'sessionStorage';
interface PageStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export function readStorage(page: Page, area: StorageArea, key: string): Promise<string | null> {
  return page.evaluate(
    ([a, k]) => (globalThis as unknown as Record<StorageArea, PageStorage>)[a].getItem(k),
    [area, key] as const,
  );
}

export function writeStorage(page: Page, area: StorageArea, key: string, value: string): Promise<void> {
  return page.evaluate(
    ([a, k, v]) => (globalThis as unknown as Record<StorageArea, PageStorage>)[a].setItem(k, v),
    [area, key, value] as const,
  );
}

/** Signs `page` in to the console with an operator token, as a person does, and waits until it says so. */
export async function signInConsole(page: Page, web: WebHub, token: string): Promise<void> {
  await page.goto(`${web.origin}/console`);
  await page.getByLabel('Your operator token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await eventually(() => page.locator('#who').getAttribute('data-state')).toBe('signed-in');
}
