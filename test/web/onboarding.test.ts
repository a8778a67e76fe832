/**
 * Onboarding in the console, in a real browser against a real hub, each step by the role whose job
 * it is: support creates the user and issues a token (shown once), compliance records the
 * professional-status questionnaire and the subscriber agreement, an admin grants real time — and
 * the token then shows real time on the quote board, until support revokes it. `GET /` leads there.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventually,
  HAVE_CHROMIUM,
  launchBrowser,
  makeOperator,
  makeUser,
  newContext,
  SKIP_MESSAGE,
  signInConsole,
  startWebHub,
  symbolsByTape,
  type WebHub,
} from './harness.js';

if (!HAVE_CHROMIUM) console.warn(SKIP_MESSAGE);

interface AuditPage {
  records: Array<{ action: string; actor: { id: string; role?: string } }>;
}

describe.skipIf(!HAVE_CHROMIUM)('onboarding in the console', () => {
  let web: WebHub;
  let browser: Browser;
  let support: string;
  let compliance: string;
  let utpSymbol: string;

  beforeAll(async () => {
    web = await startWebHub();
    browser = await launchBrowser();
    support = await makeOperator(web, 'sam.support', 'support');
    compliance = await makeOperator(web, 'cleo.compliance', 'compliance');
    const probe = await makeUser(web, 'probe', ['CTA_A', 'CTA_B', 'UTP']);
    ({ 3: utpSymbol } = await symbolsByTape(web, probe));
  });

  afterAll(async () => {
    await browser?.close();
    await web?.stop();
  });

  const signIn = (page: Page, token: string) => signInConsole(page, web, token);

  async function openUser(page: Page, id: string): Promise<void> {
    await page.getByLabel('Id, email or name contains').fill(id);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: `Open ${id}` }).click();
    await eventually(() => page.locator('#user-title').textContent()).toContain(id);
  }

  it('leads from / to the console and the quote board', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await page.goto(`${web.origin}/`);
    await page.getByRole('link', { name: 'Operator console' }).click();
    await eventually(() => page.url()).toBe(`${web.origin}/console`);
    await page.goto(`${web.origin}/`);
    await page.getByRole('link', { name: 'Quote board' }).click();
    await eventually(() => page.url()).toBe(`${web.origin}/app`);
    await context.close();
  });

  it('support creates a user and issues a token shown once; compliance attests and records the agreement; an admin grants; the board shows real time', async () => {
    const context = await newContext(browser);

    // Support: the user and a token. No questionnaire, agreement or grant for this role.
    const desk = await context.newPage();
    await signIn(desk, support);
    await desk.getByText('New user').click();
    await desk.getByLabel('User id').fill('olivia');
    await desk.getByLabel('Name', { exact: true }).fill('Olivia Ng');
    await desk.getByLabel('Email', { exact: true }).fill('olivia@example.com');
    await desk.getByLabel('Postal address').fill('1 Main St\nSpringfield');
    await desk.getByRole('button', { name: 'Create user' }).click();
    await eventually(() => desk.locator('#new-user-status').textContent()).toContain('olivia created');
    await eventually(() => desk.locator('#user-title').textContent()).toBe('olivia · Olivia Ng');
    expect(await desk.locator('#user-facts').textContent()).toContain('olivia@example.com');
    expect((await web.admin<{ address: string }>('GET', '/admin/users/olivia')).address).toBe(
      '1 Main St, Springfield',
    );
    expect(await desk.getByRole('button', { name: 'Record attestation' }).isVisible()).toBe(false);
    expect(await desk.locator('#decision-rows button').count()).toBe(0);

    await desk.getByLabel('Device id (optional)').fill('olivia-laptop');
    await desk.getByRole('button', { name: 'Issue a token' }).click();
    const shown = desk.locator('#new-token-value');
    await eventually(() => shown.textContent()).toMatch(/^mdu_/);
    const token = (await shown.textContent()) as string;
    expect(await desk.locator('#new-token').textContent()).toContain('shown only once');
    await eventually(() => desk.locator('#token-rows tr').count()).toBe(1);
    expect(await desk.locator('#token-rows').textContent()).toContain('olivia-laptop');
    // Shown once: the user opened again lists the token, never its value.
    await openUser(desk, 'olivia');
    expect(await desk.locator('#new-token').isVisible()).toBe(false);
    expect(await desk.locator('#user-detail').textContent()).not.toContain(token);

    // Compliance: the questionnaire (every answer no: non-professional) and the UTP agreement.
    const office = await context.newPage();
    await signIn(office, compliance);
    await openUser(office, 'olivia');
    expect(await office.locator('#user-facts').textContent()).toContain('professional');
    const form = office.locator('#attest-form');
    for (const question of await form.locator('fieldset').all())
      await question.getByRole('radio', { name: 'No' }).check();
    await eventually(() => office.locator('#attest-outcome').textContent()).toBe(
      'These answers make the user non-professional.',
    );
    await office.getByRole('button', { name: 'Record attestation' }).click();
    await eventually(() => office.locator('#attest-status').textContent()).toBe(
      'Recorded: olivia is non-professional.',
    );
    await eventually(() => office.locator('#user-facts').textContent()).toContain('non-professional');
    expect(await office.getByRole('button', { name: /^Grant real-time/ }).count()).toBe(0);
    await office.getByRole('button', { name: 'Record the subscriber agreement for UTP' }).click();
    await eventually(() => office.locator('#agreement-rows tr').count()).toBe(1);
    expect(
      await office.getByRole('button', { name: 'Record the subscriber agreement for UTP' }).count(),
    ).toBe(0);

    // An admin: the grant button says what a missing agreement means; UTP has one and goes real time.
    const admin = await context.newPage();
    await signIn(admin, web.adminToken);
    await openUser(admin, 'olivia');
    const ctaA = admin.locator('#decision-rows tr[data-product="CTA_A"]');
    expect(await ctaA.locator('[data-note="agreement"]').textContent()).toContain(
      'A grant gives real time only once the subscriber agreement for CTA_A is recorded',
    );
    const utp = admin.locator('#decision-rows tr[data-product="UTP"]');
    expect(await utp.locator('[data-note="agreement"]').count()).toBe(0);
    await admin.getByRole('button', { name: 'Grant real-time UTP' }).click();
    await admin.getByRole('dialog').getByRole('button', { name: 'Grant UTP' }).click();
    await eventually(() => utp.getAttribute('data-mode')).toBe('realtime');

    // The token shows real time on the board.
    const board = await context.newPage();
    await board.goto(`${web.origin}/app`);
    await board.getByLabel('Your API token').fill(token);
    await board.getByRole('button', { name: 'Sign in' }).click();
    await board.getByLabel('Symbol').fill(utpSymbol);
    await board.getByRole('button', { name: 'Add' }).click();
    const quote = board.locator(`tr[data-symbol="${utpSymbol}"]`);
    await eventually(() => quote.getAttribute('data-mode'), 10_000).toBe('realtime');

    // Support revokes the token: the board's session ends, the token row says when.
    await openUser(desk, 'olivia');
    const tokenId = (await desk.locator('#token-rows tr').getAttribute('data-token')) as string;
    await desk.getByRole('button', { name: `Revoke ${tokenId}` }).click();
    await desk.getByRole('dialog').getByRole('button', { name: 'Revoke token' }).click();
    await eventually(() => desk.locator('#token-status').textContent()).toBe(`Token ${tokenId} revoked.`);
    await eventually(() =>
      desk.locator(`#token-rows tr[data-token="${tokenId}"] td`).nth(3).textContent(),
    ).toMatch(/UTC$/);
    await eventually(() => board.locator('#connection').getAttribute('data-state'), 10_000).not.toBe('live');

    // Every step is in the audit log, by the operator who took it.
    const audit = await web.admin<AuditPage>('GET', '/admin/audit?subject=user:olivia&limit=100');
    const by = Object.fromEntries(audit.records.map((r) => [r.action, r.actor.id]));
    expect(by).toMatchObject({
      'user.create': 'sam.support',
      'token.issue': 'sam.support',
      'attestation.record': 'cleo.compliance',
      'agreement.accept': 'cleo.compliance',
      'grant.create': 'admin',
      'token.revoke': 'sam.support',
    });
    await context.close();
  });

  it('refuses each step to a role that may not take it, whatever the page shows', async () => {
    const call = (token: string, method: string, path: string, body?: unknown) =>
      fetch(`${web.origin}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    await web.admin('POST', '/admin/users', { id: 'pat' });
    expect((await call(compliance, 'POST', '/admin/users', { id: 'quinn' })).status).toBe(403);
    expect((await call(compliance, 'POST', '/admin/users/pat/tokens', {})).status).toBe(403);
    expect(
      (await call(support, 'POST', '/admin/users/pat/attestations', { status: 'non_professional' })).status,
    ).toBe(403);
    expect((await call(support, 'POST', '/admin/users/pat/agreements', { product: 'UTP' })).status).toBe(403);
    expect(
      (await call(compliance, 'PUT', '/admin/users/pat/entitlements/UTP', { realtime: true })).status,
    ).toBe(403);
  });
});
