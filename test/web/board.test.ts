/**
 * The quote board in a real browser against a real hub: sign-in, live quotes, real time and
 * delayed with the reason in words, the watchlist kept across a reload, halted symbols marked, and
 * reconnection.
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

  it('marks a symbol halted on an LULD halt and clears the mark when trading resumes', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    // The synthetic market halts symbols at random; the hub's own LULD events for this symbol are
    // held back here so that only the halt and resumption the test sends can change the row.
    const sent: Array<{ action: string; params: string }> = [];
    const acknowledged: string[] = [];
    let socket: WebSocketRoute | undefined;
    await page.routeWebSocket(/\/stocks$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        const parsed = JSON.parse(String(message)) as { action: string; params: string };
        if (parsed.action !== 'auth') sent.push(parsed);
        server.send(message);
      });
      server.onMessage((message) => {
        const events = JSON.parse(String(message)) as Array<Record<string, unknown>>;
        for (const event of events) {
          if (event.status === 'success') acknowledged.push(String(event.message));
        }
        const kept = events.filter((event) => !(event.ev === 'LULD' && event.T === tapeA));
        if (kept.length > 0) ws.send(JSON.stringify(kept));
      });
      socket = ws;
    });
    await page.goto(`${web.origin}/app`);
    await writeStorage(page, 'localStorage', 'mdhub.board.watchlist', JSON.stringify([tapeA]));
    await signIn(page, annToken);
    const a = row(page, tapeA);
    // The board asks the hub for the symbol's LULD channel with its quotes and trades, and the hub
    // takes it.
    await eventually(() => acknowledged.some((m) => m.startsWith(`subscribed to: LULD.${tapeA}`))).toBe(true);
    expect(sent).toContainEqual({ action: 'subscribe', params: `Q.${tapeA},T.${tapeA},LULD.${tapeA}` });
    await eventually(() => a.getAttribute('data-mode')).toBe('realtime');
    expect(await a.getAttribute('data-halted')).toBe('false');
    expect(await a.getByText('Halted').isVisible()).toBe(false);

    const luld = (indicators: number[], q: number) =>
      JSON.stringify([{ ev: 'LULD', T: tapeA, h: 105.25, l: 95.5, i: indicators, z: 1, t: Date.now(), q }]);
    socket?.send(luld([17], 1));
    await eventually(() => a.getAttribute('data-halted')).toBe('true');
    expect(await a.getByText('Halted', { exact: true }).isVisible()).toBe(true);
    expect(await a.locator('th').getAttribute('title')).toBe('Limit Up-Limit Down band: 95.50 to 105.25');
    expect(await page.locator('#announce').textContent()).toBe(`${tapeA}: trading halted`);

    // A band with no indicator while halted leaves the mark; the resumption clears it.
    socket?.send(luld([], 2));
    socket?.send(luld([18], 3));
    await eventually(() => a.getAttribute('data-halted')).toBe('false');
    expect(await a.getByText('Halted').isVisible()).toBe(false);
    expect(await page.locator('#announce').textContent()).toBe(`${tapeA}: trading resumed`);

    // Removing the row stops the symbol's LULD along with its quotes and trades.
    await page.getByRole('button', { name: `Remove ${tapeA}` }).click();
    await eventually(() => sent.at(-1)).toEqual({
      action: 'unsubscribe',
      params: `Q.${tapeA},T.${tapeA},LULD.${tapeA}`,
    });
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
