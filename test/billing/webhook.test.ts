import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BillingWorker, stripeWebhookRoutes } from '../../billing/index.js';
import { EntitlementCache, publishChanges } from '../../entitlements/index.js';
import { type Bus, type ControlMessage, openBus } from '../../platform/bus/index.js';
import { HealthChecks } from '../../platform/health.js';
import { createApp } from '../../platform/http/app.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { forEachDb } from '../helpers/db.js';
import { billingConfig, DAY, entitledUser, HOUR } from './fixtures.js';

const { catalog, prices } = billingConfig();
const SECRET = 'whsec_test_billing_webhooks';
const GRACE = 3 * DAY;
const GRANTED = Date.UTC(2026, 9, 1);

forEachDb((_engine, getDb) => {
  let bus: Bus;
  let cache: EntitlementCache;
  let clock = Date.UTC(2026, 10, 3, 10);
  const messages: ControlMessage[] = [];

  beforeAll(async () => {
    bus = await openBus({});
    await bus.control.subscribe((message) => messages.push(message));
    cache = new EntitlementCache({
      db: getDb(),
      control: bus.control,
      catalog,
      defaultSessionLimit: 2,
      now: () => clock,
    });
    await cache.start();
  });
  afterAll(async () => {
    await cache.stop();
    await bus.close();
  });

  function app() {
    const hub = createApp({
      logger: silentLogger,
      metrics: createMetricsRegistry({ defaultMetrics: false }),
      health: new HealthChecks(),
    });
    hub.route(
      '/',
      stripeWebhookRoutes({ db: getDb(), bus, webhookSecret: SECRET, graceMs: GRACE, now: () => clock }),
    );
    return hub;
  }

  let seq = 0;
  function event(type: string, object: Record<string, unknown>, created = clock): string {
    seq++;
    return JSON.stringify({
      id: `evt_${seq}_${type}`,
      object: 'event',
      type,
      created: Math.floor(created / 1000),
      data: { object },
    });
  }

  function post(body: string, options: { secret?: string; signedAt?: number } = {}) {
    const header = Stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret: options.secret ?? SECRET,
      timestamp: Math.floor((options.signedAt ?? clock) / 1000),
    });
    return app().request('/webhooks/stripe', {
      method: 'POST',
      body,
      headers: { 'stripe-signature': header, 'content-type': 'application/json' },
    });
  }

  async function customer(userId: string): Promise<string> {
    await entitledUser(getDb(), catalog, userId, ['CTA_A'], GRANTED, Date.UTC(2027, 0, 1));
    const id = `cus_${userId}`;
    await getDb().query(
      'insert into billing_customers (user_id, stripe_customer_id, created_at) values ($1, $2, $3)',
      [userId, id, clock],
    );
    await publishChanges(getDb(), bus.control);
    return id;
  }

  const mode = (userId: string) => cache.decide(userId, 'CTA_A', clock);
  const delinquencyAudits = async (userId: string) =>
    (
      await getDb().query<{ actor_type: string; after_json: string }>(
        "select actor_type, after_json from audit_log where action = 'user.delinquency' and subject = $1 order by seq",
        [`user:${userId}`],
      )
    ).rows;

  describe('signatures', () => {
    it('accepts a correctly signed event', async () => {
      const res = await post(event('customer.created', { id: 'cus_x' }));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ received: true, outcome: 'ignored' });
    });

    it('refuses a body signed with another secret, or altered after signing, with the error envelope', async () => {
      const body = event('invoice.paid', { id: 'in_1', customer: 'cus_nobody' });
      const wrong = await post(body, { secret: 'whsec_someone_else' });
      expect(wrong.status).toBe(400);
      expect(await wrong.json()).toMatchObject({ error: { code: 'invalid_signature' } });
      const header = Stripe.webhooks.generateTestHeaderString({
        payload: body,
        secret: SECRET,
        timestamp: Math.floor(clock / 1000),
      });
      const altered = await app().request('/webhooks/stripe', {
        method: 'POST',
        body: body.replace('cus_nobody', 'cus_somebody'),
        headers: { 'stripe-signature': header },
      });
      expect(altered.status).toBe(400);
      const unsigned = await app().request('/webhooks/stripe', { method: 'POST', body });
      expect(unsigned.status).toBe(400);
    });

    it('refuses a signature older than five minutes: a replay of a captured delivery', async () => {
      const res = await post(event('invoice.paid', { id: 'in_2', customer: 'cus_nobody' }), {
        signedAt: clock - 301_000,
      });
      expect(res.status).toBe(400);
      expect((await res.json()) as { error: { message: string } }).toMatchObject({
        error: { message: expect.stringMatching(/older than 300 s/) },
      });
    });

    it('refuses a signature dated far in the future with 400, and changes nothing', async () => {
      const cus = await customer('future-signed');
      await expect.poll(() => mode('future-signed').mode).toBe('realtime');
      const body = event('customer.subscription.deleted', { id: 'sub_future', customer: cus });
      const res = await post(body, { signedAt: clock + 3_000_000_000 });
      expect(res.status).toBe(400);
      expect((await res.json()) as { error: { code: string; message: string } }).toMatchObject({
        error: { code: 'invalid_signature', message: expect.stringMatching(/ahead of this server's clock/) },
      });
      expect(mode('future-signed').mode).toBe('realtime');
      expect(await delinquencyAudits('future-signed')).toEqual([]);
      const recorded = await getDb().query('select id from billing_webhook_events where id = $1', [
        JSON.parse(body).id,
      ]);
      expect(recorded.rows).toEqual([]);
      // Within the skew (a clock a little behind Stripe's) the same delivery is accepted.
      const near = await post(body, { signedAt: clock + 60_000 });
      expect(await near.json()).toMatchObject({ outcome: 'delinquent' });
    });

    it('handles a redelivered event id once', async () => {
      const cus = await customer('replay-a');
      const body = event('customer.subscription.deleted', { id: 'sub_r', customer: cus });
      const first = await post(body);
      const second = await post(body);
      expect(await first.json()).toMatchObject({ outcome: 'delinquent' });
      expect(await second.json()).toMatchObject({ outcome: 'duplicate' });
      expect(await delinquencyAudits('replay-a')).toHaveLength(1);
    });
  });

  describe('payments and access', () => {
    it('a failed payment downgrades real time live once the grace has passed, and payment restores it', async () => {
      const cus = await customer('late-payer');
      await expect.poll(() => mode('late-payer').mode).toBe('realtime');
      const failed = await post(event('invoice.payment_failed', { id: 'in_late', customer: cus }));
      expect(await failed.json()).toMatchObject({ outcome: 'hold_added' });
      expect(mode('late-payer').mode).toBe('realtime');

      const worker = new BillingWorker({
        db: getDb(),
        bus,
        catalog,
        prices,
        now: () => clock,
        closeDelayMs: 365 * DAY,
      });
      clock += GRACE - HOUR;
      expect((await worker.runOnce()).delinquent).toEqual([]);
      clock += 2 * HOUR;
      messages.length = 0;
      expect((await worker.runOnce()).delinquent).toEqual(['late-payer']);
      expect(messages).toContainEqual({
        type: 'entitlements.changed',
        userId: 'late-payer',
        seq: expect.any(Number),
        at: expect.any(Number),
      });
      await expect
        .poll(() => mode('late-payer'), { timeout: 1_000 })
        .toEqual({ mode: 'delayed', reasons: ['delinquent'] });

      const paid = await post(event('invoice.paid', { id: 'in_late', customer: cus }));
      expect(await paid.json()).toMatchObject({ outcome: 'hold_released' });
      await expect.poll(() => mode('late-payer').mode, { timeout: 1_000 }).toBe('realtime');
      const audits = await delinquencyAudits('late-payer');
      expect(audits.map((a) => [a.actor_type, JSON.parse(a.after_json)])).toEqual([
        ['webhook', { delinquent: true }],
        ['webhook', { delinquent: false }],
      ]);
    });

    it('a failure of an invoice delivered after it was paid leaves the user paid up; a later invoice failing still counts', async () => {
      const cus = await customer('out-of-order');
      await expect.poll(() => mode('out-of-order').mode).toBe('realtime');
      const worker = new BillingWorker({
        db: getDb(),
        bus,
        catalog,
        prices,
        now: () => clock,
        closeDelayMs: 365 * DAY,
      });
      // Stripe retried the payment: the failure happened first but is delivered after the payment.
      const failedAt = clock - HOUR;
      const paid = await post(event('invoice.paid', { id: 'in_ooo', customer: cus }));
      expect(await paid.json()).toMatchObject({ outcome: 'hold_released' });
      const lateBody = event('invoice.payment_failed', { id: 'in_ooo', customer: cus }, failedAt);
      expect(await (await post(lateBody)).json()).toMatchObject({ outcome: 'stale' });
      clock += GRACE + HOUR;
      expect((await worker.runOnce()).delinquent).toEqual([]);
      expect(mode('out-of-order').mode).toBe('realtime');
      expect(await delinquencyAudits('out-of-order')).toEqual([]);

      // Next month's invoice fails for real: the grace runs and real time stops.
      const next = await post(event('invoice.payment_failed', { id: 'in_ooo_next', customer: cus }));
      expect(await next.json()).toMatchObject({ outcome: 'hold_added' });
      clock += GRACE + HOUR;
      expect((await worker.runOnce()).delinquent).toEqual(['out-of-order']);
      await expect
        .poll(() => mode('out-of-order'), { timeout: 1_000 })
        .toEqual({ mode: 'delayed', reasons: ['delinquent'] });
      // A replay of the stale failure is still a duplicate, and every event left an audit record.
      expect(await (await post(lateBody)).json()).toMatchObject({ outcome: 'duplicate' });
      const webhookAudits = await getDb().query<{ details_json: string }>(
        "select details_json from audit_log where action = 'billing.webhook' and subject = $1 order by seq",
        ['user:out-of-order'],
      );
      expect(webhookAudits.rows.map((r) => JSON.parse(r.details_json).outcome)).toEqual([
        'hold_released',
        'stale',
        'hold_added',
      ]);
    });

    it('a deleted subscription stops real time at once; an invoice of a new subscription restores it', async () => {
      const cus = await customer('leaver');
      await expect.poll(() => mode('leaver').mode).toBe('realtime');
      messages.length = 0;
      await post(event('customer.subscription.deleted', { id: 'sub_old', customer: cus }));
      expect(messages).toContainEqual({
        type: 'entitlements.changed',
        userId: 'leaver',
        seq: expect.any(Number),
        at: expect.any(Number),
      });
      await expect
        .poll(() => mode('leaver'), { timeout: 1_000 })
        .toEqual({ mode: 'delayed', reasons: ['delinquent'] });
      // The old subscription's final invoice being paid does not restore access…
      await post(
        event('invoice.paid', {
          id: 'in_final',
          customer: cus,
          parent: { subscription_details: { subscription: 'sub_old' } },
        }),
      );
      expect(mode('leaver').mode).toBe('delayed');
      // …paying for a new one does.
      await post(
        event('invoice.paid', {
          id: 'in_new',
          customer: cus,
          parent: { subscription_details: { subscription: 'sub_new' } },
        }),
      );
      await expect.poll(() => mode('leaver').mode, { timeout: 1_000 }).toBe('realtime');
    });

    it('an event for a customer mdhub does not know changes nothing and is still acknowledged', async () => {
      const res = await post(event('invoice.payment_failed', { id: 'in_x', customer: 'cus_unknown' }));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ outcome: 'unknown_customer' });
    });
  });
});
