/**
 * README's "first ten minutes", step by step, in a real browser against a real hub: from `/` to
 * the console, a user onboarded, AAPL in real time on the quote board, delayed on revocation, and
 * the month's report counting the user.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  HAVE_CHROMIUM,
  launchBrowser,
  newContext,
  SKIP_MESSAGE,
  startWebHub,
  type WebHub,
} from './harness.js';

if (!HAVE_CHROMIUM) console.warn(SKIP_MESSAGE);

describe.skipIf(!HAVE_CHROMIUM)("README's first ten minutes", () => {
  let web: WebHub;
  let browser: Browser;

  beforeAll(async () => {
    web = await startWebHub();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await web?.stop();
  });

  it('onboards a user, shows AAPL in real time, turns it delayed on revocation, and reports the month', async () => {
    const context = await newContext(browser);
    // 1–2. Open the hub's address, then the console; sign in with the first admin's token.
    const console = await context.newPage();
    await console.goto(`${web.origin}/`);
    await console.getByRole('link', { name: 'Operator console' }).click();
    await console.getByLabel('Your operator token').fill(web.adminToken);
    await console.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => console.locator('#who').getAttribute('data-state')).toBe('signed-in');

    // 3. Onboard jane: the user, her questionnaire, the Nasdaq (UTP) agreement, the grant, a token.
    await console.getByText('New user').click();
    await console.getByLabel('User id').fill('jane');
    await console.getByLabel('Name', { exact: true }).fill('Jane Doe');
    await console.getByRole('button', { name: 'Create user' }).click();
    await eventually(() => console.locator('#user-title').textContent()).toBe('jane · Jane Doe');
    for (const question of await console.locator('#attest-form fieldset').all())
      await question.getByRole('radio', { name: 'No' }).check();
    await console.getByRole('button', { name: 'Record attestation' }).click();
    await eventually(() => console.locator('#user-facts').textContent()).toContain('non-professional');
    await console.getByRole('button', { name: 'Record the subscriber agreement for UTP' }).click();
    await eventually(() => console.locator('#agreement-rows tr').count()).toBe(1);
    await console.getByRole('button', { name: 'Grant real-time UTP' }).click();
    await console.getByRole('dialog').getByRole('button', { name: 'Grant UTP' }).click();
    const utp = console.locator('#decision-rows tr[data-product="UTP"]');
    await eventually(() => utp.getAttribute('data-mode')).toBe('realtime');
    await console.getByRole('button', { name: 'Issue a token' }).click();
    await eventually(() => console.locator('#new-token-value').textContent()).toMatch(/^mdu_/);
    const token = (await console.locator('#new-token-value').textContent()) as string;

    // 4. The quote board, signed in as jane: AAPL (Nasdaq-listed, Tape C: UTP) in real time.
    const board = await context.newPage();
    await board.goto(`${web.origin}/app`);
    await board.getByLabel('Your API token').fill(token);
    await board.getByRole('button', { name: 'Sign in' }).click();
    await board.getByLabel('Symbol').fill('AAPL');
    await board.getByRole('button', { name: 'Add' }).click();
    const aapl = board.locator('tr[data-symbol="AAPL"]');
    await eventually(() => aapl.getAttribute('data-mode'), 10_000).toBe('realtime');
    // A display is what the exchange counts: wait for the first real-time quote on the board.
    await eventually(() => aapl.getAttribute('data-fresh'), 10_000).toBe('fresh');

    // 5. Revoke in the console: the open board turns AAPL delayed, saying why.
    await console.getByRole('button', { name: 'Revoke real-time UTP' }).click();
    await console.getByRole('dialog').getByRole('button', { name: 'Revoke UTP' }).click();
    await eventually(() => aapl.getAttribute('data-mode'), 10_000).toBe('delayed');
    expect(await aapl.locator('.why').textContent()).toBe(
      'There is no real-time subscription to this product.',
    );

    // 6. The month's report counts jane once under UTP, non-professional (the meter writes the ledger meanwhile).
    const row = console.locator('#usage-rows tr[data-product="UTP"][data-category="non_professional"]');
    // The row can show before the meter has written her display to the ledger: read until it counts her.
    await eventually(async () => {
      await console.getByRole('button', { name: 'Show', exact: true }).click();
      return (await row.count()) === 1 ? row.locator('td').nth(1).textContent() : null;
    }, 20_000).toBe('1');
    await context.close();
  });
});
