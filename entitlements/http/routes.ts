import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Catalog } from '../../config/index.js';
import type { VerbContext } from '../../platform/actor.js';
import type { Bus } from '../../platform/bus/index.js';
import type { Db } from '../../platform/db/index.js';
import { DomainError } from '../../platform/errors.js';
import type { AppEnv } from '../../platform/http/app.js';
import type { Logger } from '../../platform/logger.js';
import { ChangeRelay } from '../relay.js';
import { productTerms } from '../snapshot.js';
import { acceptAgreement } from '../verbs/accept-agreement.js';
import { attest } from '../verbs/attest.js';
import type { VerbOutcome } from '../verbs/common.js';
import { createOperator } from '../verbs/create-operator.js';
import { createUser } from '../verbs/create-user.js';
import { setDeliveryRate } from '../verbs/delivery-rate.js';
import { grant } from '../verbs/grant.js';
import { issueToken } from '../verbs/issue-token.js';
import { revoke } from '../verbs/revoke.js';
import { revokeOperator } from '../verbs/revoke-operator.js';
import { revokeToken } from '../verbs/revoke-token.js';
import { setStatus } from '../verbs/set-status.js';
import { updateContact } from '../verbs/update-contact.js';
import { listUsers, userDetail, type ViewOptions } from '../views.js';
import * as api from './contract.js';

export interface EntitlementRoutesDeps {
  db: Db;
  bus: Bus;
  /**
   * The process's change relay, flushed after each commit; default one of the routes' own on
   * `bus.control` (without a sweep: the edges' poll still catches what it fails to publish).
   */
  changes?: ChangeRelay;
  catalog: Catalog;
  /** `MDHUB_SESSION_LIMIT`, shown for users without their own limit. */
  defaultSessionLimit: number;
  logger?: Logger;
  /** Wall clock, epoch ms (default `Date.now`): the instant each change is recorded at. */
  now?: () => number;
}

/** Request bodies are small JSON documents; anything larger is refused before it is read whole. */
export const BODY_LIMIT_BYTES = 64 * 1024;

function toEpochMs(value: number | string | undefined): number | undefined {
  return typeof value === 'string' ? Date.parse(value) : value;
}

/**
 * The entitlements admin API, to mount at `/admin` behind `operatorAuth`. Each handler validates,
 * runs one verb in one transaction (its audit record and change-outbox rows inside it) and flushes
 * the change relay after the commit; a verb's DomainError reaches the app's one error mapping.
 */
export function entitlementRoutes(deps: EntitlementRoutesDeps): OpenAPIHono<AppEnv> {
  const { db, bus, catalog, logger } = deps;
  const changes = deps.changes ?? new ChangeRelay({ db, control: bus.control, logger });
  const now = deps.now ?? Date.now;
  const products = productTerms(catalog);
  const views = (): ViewOptions => ({ products, defaultSessionLimit: deps.defaultSessionLimit, at: now() });

  async function run<T>(c: Context<AppEnv>, verb: (ctx: VerbContext) => Promise<VerbOutcome<T>>): Promise<T> {
    const actor = c.get('actor');
    if (!actor) throw new DomainError('unauthenticated', 'unauthorized', 'an operator token is required');
    const at = now();
    const outcome = await db.transaction((tx) => verb({ actor, tx, at }));
    if (outcome.changed.length > 0) await changes.flush();
    return outcome.value;
  }

  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) return;
      const issues = result.error.issues.map((issue) => ({
        path: issue.path.join('.'),
        message: issue.message,
      }));
      const summary = issues.map((issue) => `${issue.path || '(body)'}: ${issue.message}`).join('; ');
      throw new DomainError('invalid', 'invalid_request', summary, { details: issues });
    },
  });

  app.use(
    '*',
    bodyLimit({
      maxSize: BODY_LIMIT_BYTES,
      onError: () => {
        throw new DomainError(
          'too_large',
          'payload_too_large',
          `request body is larger than ${BODY_LIMIT_BYTES} bytes`,
        );
      },
    }),
  );

  app.openapi(api.createUserRoute, async (c) => {
    const input = c.req.valid('json');
    return c.json(await run(c, (ctx) => createUser({ ctx, input })), 201);
  });

  app.openapi(api.listUsersRoute, async (c) => {
    const query = c.req.valid('query');
    return c.json(await listUsers(db, query, views()), 200);
  });

  app.openapi(api.getUserRoute, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await userDetail(db, id, views()), 200);
  });

  app.openapi(api.updateContactRoute, async (c) => {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    return c.json(await run(c, (ctx) => updateContact({ ctx, input: { userId: id, ...body } })), 200);
  });

  app.openapi(api.attestRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { status, answers, effectiveFrom, reason } = c.req.valid('json');
    const input = { userId: id, status, answers, effectiveFrom: toEpochMs(effectiveFrom), reason };
    return c.json(await run(c, (ctx) => attest({ ctx, input })), 201);
  });

  app.openapi(api.agreementRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { product } = c.req.valid('json');
    const acceptance = await run(c, (ctx) =>
      acceptAgreement({ ctx: { ...ctx, catalog }, input: { userId: id, product } }),
    );
    return acceptance.created ? c.json(acceptance, 201) : c.json(acceptance, 200);
  });

  app.openapi(api.grantRoute, async (c) => {
    const { id, product } = c.req.valid('param');
    const body = c.req.valid('json');
    const input = {
      userId: id,
      product,
      validFrom: toEpochMs(body.validFrom),
      validTo: toEpochMs(body.validTo),
      reason: body.reason,
      maxUpdatesPerSecond: body.maxUpdatesPerSecond,
    };
    return c.json(await run(c, (ctx) => grant({ ctx: { ...ctx, catalog }, input })), 200);
  });

  app.openapi(api.deliveryRateRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { maxUpdatesPerSecond } = c.req.valid('json');
    return c.json(
      await run(c, (ctx) => setDeliveryRate({ ctx, input: { userId: id, maxUpdatesPerSecond } })),
      200,
    );
  });

  app.openapi(api.revokeRoute, async (c) => {
    const { id, product } = c.req.valid('param');
    const { effectiveAt, reason } = c.req.valid('query');
    const input = { userId: id, product, effectiveAt: toEpochMs(effectiveAt), reason };
    return c.json(await run(c, (ctx) => revoke({ ctx: { ...ctx, catalog }, input })), 200);
  });

  app.openapi(api.issueTokenRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { deviceId, usage } = c.req.valid('json');
    return c.json(await run(c, (ctx) => issueToken({ ctx, input: { userId: id, deviceId, usage } })), 201);
  });

  app.openapi(api.revokeTokenRoute, async (c) => {
    const { id, tokenId } = c.req.valid('param');
    return c.json(await run(c, (ctx) => revokeToken({ ctx, input: { userId: id, tokenId } })), 200);
  });

  app.openapi(api.statusRoute, async (c) => {
    const { id } = c.req.valid('param');
    const { status, reason } = c.req.valid('json');
    return c.json(await run(c, (ctx) => setStatus({ ctx, input: { userId: id, status, reason } })), 200);
  });

  app.openapi(api.createOperatorRoute, async (c) => {
    const input = c.req.valid('json');
    return c.json(await run(c, (ctx) => createOperator({ ctx, input })), 201);
  });

  app.openapi(api.revokeOperatorRoute, async (c) => {
    const { id } = c.req.valid('param');
    return c.json(await run(c, (ctx) => revokeOperator({ ctx, input: { id } })), 200);
  });

  return app;
}
