import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BillingWorker,
  chargeIdentifier,
  closeBillingMonth,
  createBillingMetrics,
  createStripeProvider,
  type PaymentProvider,
  reconcile,
} from '../../billing/index.js';
import { type Bus, openBus } from '../../platform/bus/index.js';
import type { Db } from '../../platform/db/index.js';
import { type FakeStripe, startFakeStripe } from '../../testing/stripe-server.js';
import { forEachDb } from '../helpers/db.js';
import { billingConfig, DAY, entitledUser, HOUR, scenario } from './fixtures.js';

const { catalog, prices } = billingConfig();
const EVENTS = '/v1/billing/meter_events';

forEachDb((_engine, getDb) => {
  let bus: Bus;
  let stripe: FakeStripe;
  let clock = 0;

  beforeAll(async () => {
    bus = await openBus({});
    stripe = await startFakeStripe({ now: () => clock });
    for (const pricing of prices.products.values()) stripe.createMeter(pricing.meterEventName);
  });
  afterAll(async () => {
    await stripe.close();
    await bus.close();
  });

  const provider = (): PaymentProvider =>
    createStripeProvider({ secretKey: stripe.secretKey, apiUrl: stripe.url });

  function worker(
    db: Db,
    extra: { provider?: PaymentProvider; metrics?: ReturnType<typeof createBillingMetrics> } = {},
  ) {
    return new BillingWorker({
      db,
      bus,
      catalog,
      prices,
      provider: extra.provider ?? provider(),
      metrics: extra.metrics,
      now: () => clock,
      random: () => 0.999,
      backoffBaseMs: 1_000,
      leaseMs: 60_000,
    });
  }

  const eventsFor = (userId: string) =>
    [...stripe.meterEvents.values()].filter((e) => e.identifier.includes(`:${userId}:`));
  const postsFor = (identifier: string) =>
    stripe.requests.filter((r) => r.path === EVENTS && r.idempotencyKey === identifier);

  describe('month close', () => {
    it('derives one charge per billable user and product from the ledger, once however often it runs', async () => {
      const db = getDb();
      const s = scenario(0);
      await entitledUser(db, catalog, 'close-a', ['CTA_A', 'UTP'], s.grantAt, s.end);
      const first = await closeBillingMonth(db, { catalog, prices, month: s.month, at: s.closeAt });
      const again = await closeBillingMonth(db, { catalog, prices, month: s.month, at: s.closeAt + HOUR });
      expect(first).toMatchObject({ inserted: 2, existing: 0 });
      expect(again).toMatchObject({ inserted: 0, existing: 2 });
      const { rows } = await db.query<{
        product: string;
        identifier: string;
        amount_micros: number;
        value: number;
        status: string;
      }>(
        "select product, identifier, amount_micros, value, status from billing_outbox where user_id = 'close-a' order by product",
      );
      // Professional CTA_A $45.00 and UTP $24.00, each passed through with a 10 % markup.
      expect(rows).toEqual([
        {
          product: 'CTA_A',
          identifier: chargeIdentifier(s.month, 'close-a', 'CTA_A'),
          amount_micros: 49_500_000,
          value: 4950,
          status: 'pending',
        },
        {
          product: 'UTP',
          identifier: chargeIdentifier(s.month, 'close-a', 'UTP'),
          amount_micros: 26_400_000,
          value: 2640,
          status: 'pending',
        },
      ]);
      const audit = await db.query<{ n: number }>(
        "select count(*)::int8 as n from audit_log where action = 'billing.month_close' and subject = $1",
        [`billing:month:${s.month}`],
      );
      expect(audit.rows[0]?.n).toBe(2);
    });

    it('refuses to close a month that is not over', async () => {
      const s = scenario(1);
      await expect(
        closeBillingMonth(getDb(), { catalog, prices, month: s.month, at: s.end - 1 }),
      ).rejects.toThrow(/not over/);
    });
  });

  describe('sending', () => {
    it('retries through 429 and 500 answers with backoff and bills each charge exactly once', async () => {
      const db = getDb();
      const s = scenario(2);
      await entitledUser(db, catalog, 'retry-a', ['CTA_A'], s.grantAt, s.end);
      clock = s.closeAt;
      await closeBillingMonth(db, { catalog, prices, month: s.month, at: clock });
      const identifier = chargeIdentifier(s.month, 'retry-a', 'CTA_A');
      stripe.inject({ status: 429, path: EVENTS });
      stripe.inject({ status: 500, path: EVENTS });
      stripe.inject({ status: 500, path: EVENTS, afterApply: true });
      const metrics = createBillingMetrics();
      const w = worker(db, { metrics });

      for (let pass = 0; pass < 6; pass++) {
        await w.runOnce();
        clock += 60_000;
      }
      const { rows } = await db.query<{
        status: string;
        attempts: number;
        stripe_customer_id: string | null;
      }>('select status, attempts, stripe_customer_id from billing_outbox where identifier = $1', [
        identifier,
      ]);
      expect(rows[0]).toMatchObject({ status: 'sent', attempts: 4 });
      expect(eventsFor('retry-a')).toHaveLength(1);
      expect(eventsFor('retry-a')[0]).toMatchObject({ value: 4950, customer: rows[0]?.stripe_customer_id });
      // Four posts, all with the same identifier as Idempotency-Key; the last replayed Stripe's saved answer.
      const posts = postsFor(identifier);
      expect(posts.map((p) => p.status)).toEqual([429, 500, 500, 200]);
      expect(posts.at(-1)?.replayed).toBe(true);
      expect((await metrics.attempts.get()).values.find((v) => v.labels.outcome === 'sent')?.value).toBe(1);
    });

    it('a worker that dies after Stripe accepted is taken over after its lease, resending the same identifier once', async () => {
      const db = getDb();
      const s = scenario(3);
      await entitledUser(db, catalog, 'crash-a', ['CTA_B'], s.grantAt, s.end);
      clock = s.closeAt;
      await closeBillingMonth(db, { catalog, prices, month: s.month, at: clock });
      const real = provider();
      // The process "dies" the moment Stripe has the event: the answer is never recorded.
      const dying: PaymentProvider = {
        ...real,
        async sendMeterEvent(input) {
          await real.sendMeterEvent(input);
          await new Promise(() => undefined);
        },
      };
      void worker(db, { provider: dying }).runOnce();
      const identifier = chargeIdentifier(s.month, 'crash-a', 'CTA_B');
      await expect.poll(() => postsFor(identifier).length).toBe(1);
      const inFlight = await db.query<{ status: string }>(
        'select status from billing_outbox where identifier = $1',
        [identifier],
      );
      expect(inFlight.rows[0]?.status).toBe('sending');

      clock += 30_000;
      expect((await worker(db).runOnce()).sent).toBe(0);
      clock += 60_000;
      expect((await worker(db).runOnce()).sent).toBe(1);
      clock += HOUR;
      expect((await worker(db).runOnce()).sent).toBe(0);

      expect(postsFor(identifier)).toHaveLength(2);
      expect(eventsFor('crash-a')).toHaveLength(1);
      const { rows } = await db.query<{ status: string; attempts: number }>(
        'select status, attempts from billing_outbox where identifier = $1',
        [identifier],
      );
      expect(rows[0]).toEqual({ status: 'sent', attempts: 2 });
    });

    it('a charge older than Stripe accepts goes dead, is counted, and shows in the reconciliation', async () => {
      const db = getDb();
      const s = scenario(4);
      await entitledUser(db, catalog, 'old-a', ['CTA_A'], s.grantAt, s.end);
      clock = s.end + 40 * DAY;
      await closeBillingMonth(db, { catalog, prices, month: s.month, at: clock });
      const metrics = createBillingMetrics();
      const pass = await worker(db, { metrics }).runOnce();
      expect(pass.dead).toBe(1);
      expect(eventsFor('old-a')).toHaveLength(0);
      const identifier = chargeIdentifier(s.month, 'old-a', 'CTA_A');
      const { rows } = await db.query<{ status: string; last_error_code: string }>(
        'select status, last_error_code from billing_outbox where identifier = $1',
        [identifier],
      );
      expect(rows[0]).toEqual({ status: 'dead', last_error_code: 'too_old' });
      expect((await metrics.dead.get()).values.find((v) => v.labels.reason === 'too_old')?.value).toBe(1);
      const report = await reconcile(db, { catalog, prices, month: s.month });
      const row = report.rows.find((r) => r.user === 'old-a');
      expect(row?.mismatches.map((m) => m.reason)).toEqual(['too_old']);
      const audit = await db.query<{ n: number }>(
        "select count(*)::int8 as n from audit_log where action = 'billing.charge_dead' and subject = $1",
        [`billing:charge:${identifier}`],
      );
      expect(audit.rows[0]?.n).toBe(1);
    });

    it('never resends an attempt of unknown outcome once Stripe may have forgotten the identifier', async () => {
      const db = getDb();
      const s = scenario(5);
      await entitledUser(db, catalog, 'lost-a', ['UTP'], s.grantAt, s.end);
      clock = s.closeAt;
      await closeBillingMonth(db, { catalog, prices, month: s.month, at: clock });
      stripe.inject({ status: 500, path: EVENTS, afterApply: true });
      const identifier = chargeIdentifier(s.month, 'lost-a', 'UTP');
      await worker(db).runOnce();
      // The worker's next turn comes a day later: past the dedupe window, a resend could double-bill.
      clock += DAY;
      const pass = await worker(db).runOnce();
      expect(pass.dead).toBe(1);
      expect(postsFor(identifier)).toHaveLength(1);
      const report = await reconcile(db, { catalog, prices, month: s.month, provider: provider() });
      const row = report.rows.find((r) => r.user === 'lost-a');
      // Stripe did get it: the reconciliation shows the send failure and Stripe's amount side by side.
      expect(row?.mismatches.map((m) => m.reason)).toEqual(['send_failed', 'unknown_at_stripe']);
      expect(row?.stripe).toBe('26.400000');
    });
  });
});
