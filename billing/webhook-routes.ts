import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import Stripe from 'stripe';
import { z } from 'zod';
import { ChangeRelay } from '../entitlements/index.js';
import type { Bus } from '../platform/bus/index.js';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { errorResponses, jsonResponse, type RouteGroup } from '../platform/http/openapi.js';
import type { Logger } from '../platform/logger.js';
import type { BillingMetrics } from './metrics.js';
import { handleStripeEvent, parseStripeEvent } from './webhook.js';

/** How old a signature may be, seconds: older deliveries (or replays of them) are refused. */
export const SIGNATURE_TOLERANCE_S = 300;

/**
 * How far ahead of our clock a signature may be, seconds. Stripe's library only bounds the past;
 * a timestamp far in the future would otherwise keep a captured delivery replayable for as long.
 */
export const SIGNATURE_FUTURE_SKEW_S = 300;

/** The signed `t=` of a Stripe-Signature header, epoch seconds; undefined when absent or malformed. */
function signedAt(header: string): number | undefined {
  for (const part of header.split(',')) {
    const [key, value] = part.split('=', 2);
    if (key?.trim() === 't' && value && /^\d{1,12}$/.test(value.trim())) return Number(value.trim());
  }
  return undefined;
}

/** Stripe's events are small; anything larger is refused before it is read whole. */
const BODY_LIMIT_BYTES = 1024 * 1024;

export interface StripeWebhookDeps {
  db: Db;
  bus: Bus;
  /** The process's change relay, flushed after a delinquency change commits; default one on `bus.control`. */
  changes?: ChangeRelay;
  /** `STRIPE_WEBHOOK_SECRET`; absent, the endpoint answers 503. Never logged. */
  webhookSecret?: string;
  /** `MDHUB_BILLING_GRACE_MS`. */
  graceMs: number;
  metrics?: BillingMetrics;
  logger?: Logger;
  /** Wall clock, epoch ms (default `Date.now`): signature age and effects are judged at it. */
  now?: () => number;
}

/** The one header the webhook reads before the body: Stripe's signature over the raw body. */
const webhookHeaders = z.object({ 'stripe-signature': z.string().min(1) });

/**
 * `POST /webhooks/stripe`, mounted at the root: no operator token — Stripe's signature over the
 * raw body is the authentication, checked before anything in the body is believed.
 */
export function stripeWebhookRoutes(deps: StripeWebhookDeps): Hono<AppEnv> {
  const now = deps.now ?? Date.now;
  const changes =
    deps.changes ?? new ChangeRelay({ db: deps.db, control: deps.bus.control, logger: deps.logger });
  const app = new Hono<AppEnv>();
  app.post(
    '/webhooks/stripe',
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: () => {
        throw new DomainError(
          'too_large',
          'payload_too_large',
          `webhook body is larger than ${BODY_LIMIT_BYTES} bytes`,
        );
      },
    }),
    async (c) => {
      if (!deps.webhookSecret) {
        throw new DomainError(
          'unavailable',
          'billing_not_configured',
          'STRIPE_WEBHOOK_SECRET is not set; webhooks are not accepted',
        );
      }
      const signature = webhookHeaders.safeParse({ 'stripe-signature': c.req.header('stripe-signature') })
        .data?.['stripe-signature'];
      if (signature === undefined)
        throw new DomainError('invalid', 'invalid_signature', 'the Stripe-Signature header is missing');
      const raw = Buffer.from(await c.req.arrayBuffer());
      const at = now();
      let verified: unknown;
      try {
        verified = Stripe.webhooks.constructEvent(
          raw,
          signature,
          deps.webhookSecret,
          SIGNATURE_TOLERANCE_S,
          undefined,
          at,
        );
      } catch (error) {
        const expired = /tolerance/i.test((error as Error).message);
        deps.metrics?.webhooks.inc({ type: 'unverified', outcome: expired ? 'expired' : 'bad_signature' });
        throw new DomainError(
          'invalid',
          'invalid_signature',
          expired
            ? `the signature is older than ${SIGNATURE_TOLERANCE_S} s; a replayed or delayed delivery is refused`
            : 'the Stripe-Signature does not match the body',
        );
      }
      const t = signedAt(signature);
      if (t === undefined || t * 1000 - at > SIGNATURE_FUTURE_SKEW_S * 1000) {
        deps.metrics?.webhooks.inc({ type: 'unverified', outcome: 'future' });
        throw new DomainError(
          'invalid',
          'invalid_signature',
          `the signature is dated more than ${SIGNATURE_FUTURE_SKEW_S} s ahead of this server's clock; it is refused`,
        );
      }
      const event = parseStripeEvent(verified);
      if (!event)
        throw new DomainError(
          'invalid',
          'invalid_event',
          'the event lacks an id, type, created time or data object',
        );
      const result = await handleStripeEvent(deps.db, event, { at, graceMs: deps.graceMs });
      if (result.changed.length > 0) await changes.flush();
      deps.metrics?.webhooks.inc({ type: event.type, outcome: result.outcome });
      deps.logger?.info(
        { event: event.id, type: event.type, outcome: result.outcome },
        'Stripe webhook handled',
      );
      return c.json({ received: true, id: event.id, outcome: result.outcome }, 200);
    },
  );
  return app;
}

/** `POST /webhooks/stripe` as the OpenAPI document shows it. */
export const webhookRouteDocs: RouteGroup = {
  routes: [
    {
      method: 'post',
      path: '/webhooks/stripe',
      tags: ['billing'],
      summary: 'Stripe’s events (invoices paid or failed, subscriptions): billing holds follow them',
      description:
        'No operator token: the Stripe-Signature over the raw body (STRIPE_WEBHOOK_SECRET) is the authentication, checked before anything in the body is believed; a signature older than the tolerance is refused as a replay.',
      security: [{ stripeSignature: [] }],
      request: {
        headers: webhookHeaders,
        body: {
          required: true,
          content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } },
        },
      },
      responses: {
        200: jsonResponse(
          z.object({ received: z.literal(true), id: z.string(), outcome: z.string() }),
          'The event, handled (or recognised as a repeat)',
        ),
        ...errorResponses(
          [400, 'The signature is missing, does not match, is too old or too new, or the event is malformed'],
          413,
          [503, 'STRIPE_WEBHOOK_SECRET is not set (billing_not_configured)'],
        ),
      },
    },
  ],
};
