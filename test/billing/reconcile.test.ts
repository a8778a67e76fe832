import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  BillingWorker,
  chargeIdentifier,
  closeBillingMonth,
  createStripeProvider,
  reconcile,
  reconciliationCsv,
  reconciliationRoutes,
} from '../../billing/index.js';
import type { Actor } from '../../platform/actor.js';
import { type Bus, openBus } from '../../platform/bus/index.js';
import { HealthChecks } from '../../platform/health.js';
import { createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { type FakeStripe, startFakeStripe } from '../../testing/stripe-server.js';
import { forEachDb } from '../helpers/db.js';
import { billingConfig, entitledUser, FINANCE, scenario } from './fixtures.js';

const { catalog, prices } = billingConfig();

forEachDb((_engine, getDb) => {
  let bus: Bus;
  let stripe: FakeStripe;
  const s = scenario(9);
  const clock = s.closeAt;

  beforeAll(async () => {
    bus = await openBus({});
    stripe = await startFakeStripe({ now: () => clock });
    for (const pricing of prices.products.values()) stripe.createMeter(pricing.meterEventName);
    const db = getDb();
    await entitledUser(db, catalog, 'rec-a', ['CTA_A'], s.grantAt, s.end);
    await entitledUser(db, catalog, 'rec-b', ['CTA_A', 'UTP'], s.grantAt, s.end);
    await entitledUser(db, catalog, 'rec-c', ['CTA_B'], s.grantAt, s.end);
    await closeBillingMonth(db, { catalog, prices, month: s.month, at: clock });
    await new BillingWorker({ db, bus, catalog, prices, provider: provider(), now: () => clock }).runOnce();
    // A subscriber the ledger learns of after the close: billable, never sent.
    await entitledUser(db, catalog, 'rec-late', ['UTP'], s.grantAt, s.end);
  });
  afterAll(async () => {
    await stripe.close();
    await bus.close();
  });

  function provider() {
    return createStripeProvider({ secretKey: stripe.secretKey, apiUrl: stripe.url });
  }

  const run = () => reconcile(getDb(), { catalog, prices, month: s.month, provider: provider() });
  const reasons = async () =>
    Object.fromEntries(
      (await run()).rows.map((r) => [`${r.user}/${r.product}`, r.mismatches.map((m) => m.reason)]),
    );

  it('agrees line by line when the ledger, the outbox and Stripe agree, and lists the late subscriber as not sent', async () => {
    const result = await run();
    expect(
      result.rows.map((r) => [
        r.user,
        r.product,
        r.exchangeFee,
        r.billable,
        r.sent,
        r.stripe,
        r.outboxStatus,
      ]),
    ).toEqual([
      ['rec-a', 'CTA_A', '45.000000', '49.500000', '49.500000', '49.500000', 'sent'],
      ['rec-b', 'CTA_A', '45.000000', '49.500000', '49.500000', '49.500000', 'sent'],
      ['rec-b', 'UTP', '24.000000', '26.400000', '26.400000', '26.400000', 'sent'],
      ['rec-c', 'CTA_B', '13.650000', '15.015000', '15.020000', '15.020000', 'sent'],
      ['rec-late', 'UTP', '24.000000', '26.400000', '0.000000', '0.000000', null],
    ]);
    expect(await reasons()).toEqual({
      'rec-a/CTA_A': [],
      'rec-b/CTA_A': [],
      'rec-b/UTP': [],
      'rec-c/CTA_B': [],
      'rec-late/UTP': ['not_sent', 'no_customer'],
    });
    expect(result.totals).toEqual({
      exchangeFee: '151.650000',
      billable: '166.815000',
      sent: '140.420000',
      stripe: '140.420000',
      mismatches: 2,
    });
  });

  it('finds a planted mismatch: an event missing at Stripe, and an amount Stripe holds differently', async () => {
    const missing = stripe.meterEvents.get(chargeIdentifier(s.month, 'rec-a', 'CTA_A'));
    const changed = stripe.meterEvents.get(chargeIdentifier(s.month, 'rec-b', 'UTP'));
    if (!missing || !changed) throw new Error('the events were not sent');
    stripe.meterEvents.delete(missing.identifier);
    changed.value += 100;
    try {
      const result = await run();
      const row = (user: string, product: string) =>
        result.rows.find((r) => r.user === user && r.product === product);
      expect(row('rec-a', 'CTA_A')?.mismatches).toEqual([
        { reason: 'missing_at_stripe', detail: '4950 units sent, Stripe has none' },
      ]);
      expect(row('rec-b', 'UTP')?.mismatches).toEqual([
        { reason: 'amount_differs', detail: '2640 units sent, Stripe has 2740' },
      ]);
      expect(row('rec-b', 'UTP')?.stripe).toBe('27.400000');
    } finally {
      stripe.meterEvents.set(missing.identifier, missing);
      changed.value -= 100;
    }
  });

  it('says a month billing has not closed yet is open, and lists what is billable so far without calling it a mismatch', async () => {
    const open = scenario(10);
    await entitledUser(getDb(), catalog, 'rec-open', ['CTA_A'], open.grantAt, open.end);
    const result = await reconcile(getDb(), { catalog, prices, month: open.month });
    expect(result.closed).toBe(false);
    expect(result.rows.map((r) => [r.user, r.product, r.billable, r.outboxStatus, r.mismatches])).toEqual([
      ['rec-open', 'CTA_A', '49.500000', null, []],
    ]);
    expect(result.totals.mismatches).toBe(0);
    expect((await run()).closed).toBe(true);
  });

  it('writes CSV sorted by user and product with fixed-decimal money and a total line', async () => {
    const csv = reconciliationCsv(await run());
    const lines = csv.trimEnd().split('\n');
    expect(lines[0]).toBe(
      'month,user,product,category,exchange_fee,billable,outbox_status,sent,stripe,identifier,mismatches,detail',
    );
    expect(lines[1]).toBe(
      `${s.month},rec-a,CTA_A,professional,45.000000,49.500000,sent,49.500000,49.500000,${chargeIdentifier(s.month, 'rec-a', 'CTA_A')},,`,
    );
    expect(lines.at(-1)).toBe(`${s.month},TOTAL,,,151.650000,166.815000,,140.420000,140.420000,,2,`);
  });

  it('writes a user id a spreadsheet would run as a formula as plain text', async () => {
    const result = await run();
    const row = { ...result.rows[0]!, user: '=HYPERLINK("http://evil.example","x")' };
    const lines = reconciliationCsv({ ...result, rows: [row] }).split('\n');
    expect(lines[1]).toBe(
      `${s.month},"'=HYPERLINK(""http://evil.example"",""x"")",CTA_A,professional,45.000000,49.500000,sent,49.500000,49.500000,${chargeIdentifier(s.month, 'rec-a', 'CTA_A')},,`,
    );
  });

  it('serves JSON and CSV at GET /admin/reports/reconciliation to finance, and refuses a bad month', async () => {
    const app = createApp({
      logger: silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
      health: new HealthChecks(),
    });
    const as = (actor: Actor) => {
      app.use('/admin/*', async (c, next) => {
        c.set('actor', actor);
        await next();
      });
    };
    as(FINANCE);
    app.route('/admin', reconciliationRoutes({ db: getDb(), catalog, prices, provider: provider() }));
    const json = await app.request(`/admin/reports/reconciliation?month=${s.month}`);
    expect(json.status).toBe(200);
    expect(await json.json()).toMatchObject({
      month: s.month,
      stripeChecked: true,
      totals: { mismatches: 2 },
    });
    const csv = await app.request(`/admin/reports/reconciliation?month=${s.month}&format=csv`);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const bad = await app.request('/admin/reports/reconciliation?month=2026-13');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'invalid_query' } });
  });
});
