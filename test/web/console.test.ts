/**
 * The operator console in a real browser against a real hub: a revocation reaching an open quote
 * board, the usage report as a table, a chart and a CSV file, reconciliation, the audit log, what
 * each operator role is shown, and a month filed, drifted by late usage and amended.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../config/paths.js';
import {
  eventually,
  HAVE_CHROMIUM,
  launchBrowser,
  makeOperator,
  makeUser,
  newContext,
  SCREENSHOTS,
  SKIP_MESSAGE,
  seedRealtimeUse,
  signInConsole,
  startWebHub,
  symbolsByTape,
  type WebHub,
} from './harness.js';

if (!HAVE_CHROMIUM) console.warn(SKIP_MESSAGE);

interface UsageReport {
  month: string;
  rows: Array<{
    product: string;
    category: string;
    subscribers: number;
    devices: number;
    queries: number;
    fee: string;
  }>;
}

interface Reconciliation {
  rows: Array<{ user: string; product: string; mismatches: Array<{ reason: string; detail: string }> }>;
}

interface DailyUsage {
  month: string;
  days: Array<{ day: string; product: string; subscribers: number }>;
}

describe.skipIf(!HAVE_CHROMIUM)('operator console (/console)', () => {
  let web: WebHub;
  let browser: Browser;
  let tapeA: string;
  let bobToken: string;
  /**
   * The report month is fixed and long past, so the real-time use this file makes today (the
   * probe, bob) never lands in it, whatever day the suite runs on; the browser's clock is set
   * inside it, on its first or last day, so the console picks it as the current month.
   */
  const month = '2024-02';

  beforeAll(async () => {
    web = await startWebHub();
    browser = await launchBrowser();
    const probe = await makeUser(web, 'probe', ['CTA_A', 'CTA_B', 'UTP']);
    ({ 1: tapeA } = await symbolsByTape(web, probe));
    bobToken = await makeUser(web, 'bob', ['CTA_A', 'UTP']);
    for (const id of ['carol', 'dan', 'erin']) await makeUser(web, id, ['CTA_B']);
    await seedRealtimeUse(web, 'CTA_B', `${month}-01`, ['carol', 'dan']);
    await seedRealtimeUse(web, 'CTA_B', `${month}-02`, ['carol', 'dan', 'erin']);
  });

  afterAll(async () => {
    await browser?.close();
    await web?.stop();
  });

  const signIn = (page: Page, token: string) => signInConsole(page, web, token);

  it('an admin revokes real time in the console and the open board turns the symbol delayed', async () => {
    const context = await newContext(browser);
    const board = await context.newPage();
    await board.goto(`${web.origin}/app`);
    await board.getByLabel('Your API token').fill(bobToken);
    await board.getByRole('button', { name: 'Sign in' }).click();
    await board.getByLabel('Symbol').fill(tapeA);
    await board.getByRole('button', { name: 'Add' }).click();
    const quote = board.locator(`tr[data-symbol="${tapeA}"]`);
    await eventually(() => quote.getAttribute('data-mode')).toBe('realtime');

    const console = await context.newPage();
    await signIn(console, web.adminToken);
    expect(await console.locator('#who').textContent()).toBe('Signed in as admin (admin)');
    await console.getByLabel('Id, email or name contains').fill('bob');
    await console.getByRole('button', { name: 'Search' }).click();
    await console.getByRole('button', { name: 'Open bob' }).click();
    const decision = console.locator('#decision-rows tr[data-product="CTA_A"]');
    await eventually(() => decision.getAttribute('data-mode')).toBe('realtime');

    // The dialog guards the change: cancelling changes nothing.
    await console.getByRole('button', { name: 'Revoke real-time CTA_A' }).click();
    const dialog = console.getByRole('dialog');
    expect(await dialog.textContent()).toContain("Revoke bob's real-time CTA_A?");
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await decision.getAttribute('data-mode')).toBe('realtime');

    await console.getByRole('button', { name: 'Revoke real-time CTA_A' }).click();
    await dialog.getByRole('button', { name: 'Revoke CTA_A' }).click();

    await eventually(() => quote.getAttribute('data-mode'), 10_000).toBe('delayed');
    expect(await quote.locator('.why').textContent()).toBe(
      'There is no real-time subscription to this product.',
    );

    await eventually(() => decision.getAttribute('data-mode')).toBe('delayed');
    expect(await decision.textContent()).toContain('There is no real-time subscription to this product.');
    expect(await console.getByRole('button', { name: 'Grant real-time CTA_A' }).isVisible()).toBe(true);
    await eventually(() => console.locator('#grant-rows tr').count()).toBe(2);
    expect(await console.locator('#grant-rows').textContent()).toContain('by operator:admin');
    // The user's audit history names the revocation and who made it.
    await eventually(() => console.locator('#history-rows').textContent()).toContain('grant.revoke');
    expect(await console.locator('#history-rows tr', { hasText: 'grant.revoke' }).textContent()).toContain(
      'operator admin (admin)',
    );
    await context.close();
  });

  it.each([
    ['first', '2024-02-01T00:00:30Z'],
    ['last', '2024-02-29T23:59:30Z'],
  ])(
    'shows the usage report as a table and a daily chart, and downloads it as CSV, on the %s day of the month',
    async (_, clock) => {
      const context = await newContext(browser, { acceptDownloads: true });
      await context.clock.setFixedTime(new Date(clock));
      const page = await context.newPage();
      await signIn(page, web.adminToken);
      expect(await page.getByLabel('Month (UTC)').inputValue()).toBe(month);

      const report = await web.admin<UsageReport>('GET', `/admin/reports/usage?month=${month}`);
      await eventually(() => page.locator('#usage-rows tr').count()).toBe(report.rows.length);
      const table = await page
        .locator('#usage-rows tr')
        .evaluateAll((rows) => rows.map((row) => [...row.children].map((cell) => cell.textContent)));
      expect(table).toEqual(
        report.rows.map((r) => [
          r.product,
          r.category.replace('_', '-'),
          String(r.subscribers),
          String(r.devices),
          String(r.queries),
          r.fee,
        ]),
      );
      const ctaB = report.rows.find((r) => r.product === 'CTA_B' && r.category === 'professional');
      expect(ctaB?.subscribers).toBe(3);

      // The chart: one line per product, a point per day with real-time use, its count in words.
      const daily = await web.admin<DailyUsage>('GET', `/admin/reports/usage/daily?month=${month}`);
      expect(daily.days.filter((d) => d.product === 'CTA_B' && d.day <= `${month}-02`)).toEqual([
        { day: `${month}-01`, product: 'CTA_B', subscribers: 2 },
        { day: `${month}-02`, product: 'CTA_B', subscribers: 3 },
      ]);
      const chart = page.locator('#chart svg.daily-chart');
      await eventually(() => chart.count()).toBe(1);
      expect(
        await chart.locator('g.series').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-product'))),
      ).toEqual(['CTA_A', 'CTA_B', 'UTP']);
      const points = await chart.locator('circle > title').allTextContents();
      expect(points).toContain('CTA_B, day 2: 3 real-time subscribers');
      expect(points).toHaveLength(daily.days.length);
      expect(await chart.locator('title#chart-title').textContent()).toMatch(/CTA_B at most 3/);

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download CSV' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe(`mdhub-usage-${month}.csv`);
      const csv = readFileSync((await download.path()) as string, 'utf8');
      // One table a spreadsheet loads: one header row, each row's section and month in columns.
      const lines = csv.trimEnd().split('\n');
      expect(
        lines[0]!.startsWith(
          'section,month,catalog_version,product,category,subscribers,devices,queries,fee,',
        ),
      ).toBe(true);
      expect(lines.filter((l) => l === '' || l.startsWith('section,'))).toEqual([lines[0]]);
      expect(csv).toMatch(new RegExp(`\nsummary,${month},[^,]+,CTA_B,professional,3,`));

      // Reconciliation lists every disagreeing user × product with its reasons in words.
      const reconciliation = await web.admin<Reconciliation>(
        'GET',
        `/admin/reports/reconciliation?month=${month}`,
      );
      const disagreeing = reconciliation.rows.filter((r) => r.mismatches.length > 0);
      await eventually(() => page.locator('#recon-status').textContent()).toMatch(/disagree|No mismatches/);
      expect(await page.locator('#recon-rows tr').count()).toBe(disagreeing.length);
      for (const row of disagreeing.slice(0, 3)) {
        const shown = await page
          .locator(`#recon-rows tr[data-user="${row.user}"][data-product="${row.product}"]`)
          .textContent();
        for (const m of row.mismatches)
          expect(shown).toContain(`${m.reason.replaceAll('_', ' ')}: ${m.detail}`);
      }
      await eventually(() => page.locator('#verify-status').getAttribute('data-state')).toBe('ok');
      expect(await page.locator('#verify-status').textContent()).toMatch(/^Intact: \d+ records verified/);

      if (SCREENSHOTS) {
        await page.getByLabel('Id, email or name contains').fill('bob');
        await page.getByRole('button', { name: 'Search' }).click();
        await page.getByRole('button', { name: 'Open bob' }).click();
        await eventually(() => page.locator('#history-rows tr').count()).toBeGreaterThan(0);
        await page.setViewportSize({ width: 1200, height: 900 });
        await page.screenshot({
          path: join(packageRoot(), 'docs', 'screenshot-console.png'),
          fullPage: true,
        });
      }
      await context.close();
    },
  );

  it('shows each operator only what their role may use', async () => {
    const supportToken = await makeOperator(web, 'sam', 'support');
    const financeToken = await makeOperator(web, 'fay', 'finance');
    const context = await newContext(browser);

    const support = await context.newPage();
    await signIn(support, supportToken);
    expect(await support.locator('#users').isVisible()).toBe(true);
    expect(await support.locator('#reports').isHidden()).toBe(true);
    expect(await support.locator('#reconciliation').isHidden()).toBe(true);
    expect(await support.locator('#unused').isHidden()).toBe(true);
    expect(await support.locator('#audit').isHidden()).toBe(true);
    await support.getByRole('button', { name: 'Open carol' }).click();
    await eventually(() => support.locator('#decision-rows tr').count()).toBe(3);
    expect(await support.locator('#decision-rows button').count()).toBe(0);
    expect(await support.locator('#grant-note').textContent()).toBe(
      'Only an admin can grant or revoke real time.',
    );
    expect(await support.locator('#history-rows').isHidden()).toBe(true);

    const finance = await context.newPage();
    await signIn(finance, financeToken);
    expect(await finance.locator('#reports').isVisible()).toBe(true);
    expect(await finance.locator('#audit').isVisible()).toBe(true);
    // carol's CTA_B grant of this month has had no real time in it (her use was seeded in 2024).
    expect(await finance.locator('#unused').isVisible()).toBe(true);
    const unused = finance.locator('#unused-rows tr[data-user="carol"][data-product="CTA_B"]');
    await eventually(() => unused.textContent()).toContain('13.650000');
    expect(await finance.locator('#unused-status').textContent()).toMatch(/were never used, costing/);
    await finance.getByRole('button', { name: 'Open carol' }).click();
    await eventually(() => finance.locator('#decision-rows tr').count()).toBe(3);
    expect(await finance.locator('#decision-rows button').count()).toBe(0);
    await eventually(() => finance.locator('#history-rows tr').count()).toBeGreaterThan(0);

    // The page only hides what the hub refuses anyway.
    const refused = await fetch(`${web.origin}/admin/users/carol/entitlements/CTA_B`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${financeToken}` },
    });
    expect(refused.status).toBe(403);
    await context.close();
  });

  it('compliance files the month, sees the drift banner after late usage, the change and why, and amends it', async () => {
    const complianceToken = await makeOperator(web, 'cathy', 'compliance');
    const context = await newContext(browser);
    await context.clock.setFixedTime(new Date('2024-02-15T12:00:00Z'));
    const page = await context.newPage();
    await signIn(page, complianceToken);
    const status = page.locator('#filings-status');
    await eventually(() => status.textContent()).toBe(`${month} is not filed yet.`);

    await page.getByRole('button', { name: 'File this month' }).click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.textContent()).toContain(`File the ${month} usage report of all licensors?`);
    await dialog.getByRole('button', { name: `File ${month}` }).click();
    await eventually(() => status.textContent()).toMatch(new RegExp(`^Filed ${month} as filing \\d+\\.$`));
    const filed = page.locator('#filing-rows tr');
    expect(await filed.count()).toBe(1);
    expect(await filed.locator('td.live').textContent()).toBe('matches');
    expect(await page.getByRole('button', { name: 'File this month' }).isHidden()).toBe(true);
    expect(await page.locator('#drift-banner').isHidden()).toBe(true);

    // A meter catching up: real-time use on a day of the filed month, counted now.
    await seedRealtimeUse(web, 'CTA_B', `${month}-10`, ['lou']);
    await page.reload();
    const banner = page.locator('#drift-banner');
    await eventually(() => banner.isVisible()).toBe(true);
    expect(await banner.textContent()).toMatch(
      new RegExp(`A filed month has drifted: ${month} \\(all licensors, filing \\d+\\)`),
    );
    await eventually(() => filed.locator('td.live').textContent()).toBe('differs');

    await page.getByRole('button', { name: 'Show what changed since the filing' }).click();
    const lou = page.locator('#diff-subscribers li[data-user="lou"]');
    await eventually(() => lou.count()).toBe(1);
    expect(await lou.textContent()).toContain(
      `late event seed-CTA_B-${month}-10-lou (first_access on ${month}-10`,
    );
    expect(
      await page.locator('#diff-rows li[data-product="CTA_B"][data-category="professional"]').textContent(),
    ).toContain('subscribers 3 → 4');

    await page.getByLabel('Why the filing is amended').fill('lou caught up late');
    await page.getByRole('button', { name: 'File an amendment' }).click();
    await eventually(() => status.textContent()).toMatch(/^Filed amendment \d+ of filing \d+\.$/);
    expect(await page.locator('#filing-rows tr').count()).toBe(2);
    expect(await page.locator('#filing-rows tr[data-kind="amendment"] td.live').textContent()).toBe(
      'matches',
    );
    await eventually(() => banner.isHidden()).toBe(true);

    const finance = await context.newPage();
    await signIn(finance, await makeOperator(web, 'fin', 'finance'));
    await eventually(() => finance.locator('#filing-rows tr').count()).toBe(2);
    expect(await finance.getByRole('button', { name: 'File this month' }).isHidden()).toBe(true);
    expect(await finance.locator('#amend-form').isHidden()).toBe(true);
    await context.close();
  });
});
