/**
 * The quote board in a real browser against a real hub: sign-in, live quotes, real time and
 * delayed with the reason in words, the watchlist kept across a reload, and reconnection.
 */
import { join } from 'node:path';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../config/paths.js';
import {
  DELAY_MS,
  eventually,
  HAVE_CHROMIUM,
  launchBrowser,
  makeUser,
  newContext,
  readStorage,
  SCREENSHOTS,
  SKIP_MESSAGE,
  startWebHub,
  symbolsByTape,
  type WebHub,
  writeStorage,
} from './harness.js';

if (!HAVE_CHROMIUM) console.warn(SKIP_MESSAGE);

describe.skipIf(!HAVE_CHROMIUM)('quote board (/app)', () => {
  let web: WebHub;
  let browser: Browser;
  /** A CTA_A (tape A) and a UTP (tape C) symbol of the synthetic market. */
  let tapeA: string;
  let tapeC: string;
  let annToken: string;

  beforeAll(async () => {
    web = await startWebHub();
    browser = await launchBrowser();
    const probe = await makeUser(web, 'probe', ['CTA_A', 'CTA_B', 'UTP']);
    ({ 1: tapeA, 3: tapeC } = await symbolsByTape(web, probe));
    annToken = await makeUser(web, 'ann', ['CTA_A']);
  });

  afterAll(async () => {
    await browser?.close();
    await web?.stop();
  });

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(`${web.origin}/app`);
    await page.getByLabel('Your API token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => page.locator('#connection').getAttribute('data-state')).toBe('live');
  }

  async function addSymbol(page: Page, symbol: string): Promise<void> {
    await page.getByLabel('Symbol').fill(symbol.toLowerCase());
    await page.getByRole('button', { name: 'Add' }).click();
  }

  const row = (page: Page, symbol: string) => page.locator(`tr[data-symbol="${symbol}"]`);

  it('signs in with a token and shows live real-time quotes, and delayed ones with the reason in words', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await signIn(page, annToken);
    expect(page.url()).toBe(`${web.origin}/app`);
    expect(await readStorage(page, 'sessionStorage', 'mdhub.board.token')).toBe(annToken);

    await addSymbol(page, tapeA);
    await addSymbol(page, tapeC);

    const a = row(page, tapeA);
    await eventually(() => a.getAttribute('data-mode')).toBe('realtime');
    expect(await a.locator('.badge').textContent()).toBe('Real time');
    // Live updates keep arriving: a trade prints, and the quote moves on.
    const bid = a.locator('.bid');
    await eventually(() => bid.textContent()).not.toBe('—');
    await eventually(() => a.locator('.last').textContent()).not.toBe('—');
    const firstBid = await bid.textContent();
    await eventually(() => bid.textContent(), 10_000).not.toBe(firstBid);
    expect(await a.getAttribute('data-fresh')).toBe('fresh');

    const c = row(page, tapeC);
    await eventually(() => c.getAttribute('data-mode')).toBe('delayed');
    expect(await c.locator('.badge').textContent()).toBe(`Delayed ${DELAY_MS / 1000} seconds`);
    expect(await c.locator('.why').textContent()).toBe(
      "There is no real-time subscription to this product. The exchange's subscriber agreement for this product has not been accepted.",
    );
    // Delayed data does arrive, once it is old enough.
    await eventually(() => c.locator('.bid').textContent(), 10_000).not.toBe('—');

    if (SCREENSHOTS) {
      await page.setViewportSize({ width: 1200, height: 560 });
      await page.screenshot({ path: join(packageRoot(), 'docs', 'screenshot-board.png') });
    }

    // A reload keeps the sign-in (this tab only) and the watchlist (this browser).
    await page.reload();
    await eventually(() => page.locator('#connection').getAttribute('data-state')).toBe('live');
    expect(
      await page
        .locator('tr[data-symbol]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-symbol'))),
    ).toEqual([tapeA, tapeC]);
    await eventually(() => row(page, tapeA).getAttribute('data-mode')).toBe('realtime');

    // Removing a symbol forgets it.
    await page.getByRole('button', { name: `Remove ${tapeC}` }).click();
    expect(await readStorage(page, 'localStorage', 'mdhub.board.watchlist')).toBe(JSON.stringify([tapeA]));
    await context.close();
  });

  it('refuses a wrong token with a message and keeps nothing of it', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${web.origin}/app`);
    await page.getByLabel('Your API token').fill('mdu_not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => page.locator('#sign-in-error').textContent()).toContain('not accepted');
    expect(await page.locator('#board').isHidden()).toBe(true);
    expect(await readStorage(page, 'sessionStorage', 'mdhub.board.token')).toBeNull();
    await context.close();
  });

  it('marks data stale when no update comes, says when the connection drops, and reconnects by itself', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    // The page's clock runs with real time, and jumps when told to, so staleness needs no long wait.
    await page.clock.install();
    const sockets: WebSocketRoute[] = [];
    let holdData = false;
    await page.routeWebSocket(/\/stocks$/, (ws) => {
      const server = ws.connectToServer();
      server.onMessage((message) => {
        if (!holdData) ws.send(message);
      });
      sockets.push(ws);
    });
    await page.goto(`${web.origin}/app`);
    await writeStorage(page, 'localStorage', 'mdhub.board.watchlist', JSON.stringify([tapeA]));
    await signIn(page, annToken);
    const a = row(page, tapeA);
    await eventually(() => a.getAttribute('data-fresh')).toBe('fresh');

    holdData = true;
    await page.clock.fastForward(12_000);
    await eventually(() => a.getAttribute('data-fresh')).toBe('stale');
    expect(await a.locator('.fresh').textContent()).toMatch(/^Stale: no update for 1\d s$/);
    holdData = false;
    await eventually(() => a.getAttribute('data-fresh')).toBe('fresh');

    await sockets[0]?.close({ code: 1006, reason: 'network lost' });
    await eventually(() => page.locator('#connection').getAttribute('data-state')).toBe('waiting');
    expect(await page.locator('#connection').textContent()).toMatch(/^Disconnected\. Reconnecting in \d+ s/);
    expect(await a.getAttribute('data-fresh')).toBe('disconnected');

    await eventually(() => page.locator('#connection').getAttribute('data-state')).toBe('live');
    expect(sockets.length).toBe(2);
    await eventually(() => a.getAttribute('data-fresh')).toBe('fresh');
    await context.close();
  });
});
