import {
  auditRoutes,
  type Checkpointer,
  createCheckpointer,
  keyPlacementWarning,
  loadCheckpointKey,
} from '../audit/index.js';
import {
  BillingWorker,
  createBillingMetrics,
  loadPrices,
  reconciliationRoutes,
  stripeWebhookRoutes,
} from '../billing/index.js';
import {
  ChangeRelay,
  ensureAdminOperator,
  entitlementRoutes,
  operatorAuth,
  requirePermission,
} from '../entitlements/index.js';
import { ClientAddresses } from '../platform/http/client-address.js';
import { requireJsonBody } from '../platform/http/json-body.js';
import { evidenceRoutes, filingRoutes, reportRoutes, startDriftWatch } from '../usage/index.js';
import { mountWeb } from '../web/index.js';
import { ADMIN_GUARDS } from './guards.js';
import type { HubContext, RoleStarter, RunningRole } from './hub.js';
import { hubOpenApiDocument } from './openapi.js';
import { checkpointOptions, paymentProvider } from './options.js';

/**
 * The `api` role: the admin API behind operator tokens, with each route group's permission
 * stated here in one place; the Stripe webhook (authenticated by its signature instead); the
 * billing worker, the periodic audit checkpoints and the filings' drift watch; the quote board
 * and the operator console.
 * Every entitlement change made here goes through one change relay, which also sweeps the outbox
 * for what a failed publish or a crashed api process left unpublished.
 */
export const startApi: RoleStarter = async (ctx) => {
  const { app, db, bus, catalog, env, logger } = ctx;
  await ensureAdminOperator({ db, token: env.MDHUB_ADMIN_TOKEN, at: Date.now(), logger });
  const changes = new ChangeRelay({ db, control: bus.control, logger });
  changes.start();
  const checkpointer = await startAuditCheckpoints(ctx);

  const document = hubOpenApiDocument();
  app.get('/openapi.json', (c) => c.json(document));
  app.route(
    '/',
    stripeWebhookRoutes({
      db,
      bus,
      changes,
      webhookSecret: env.STRIPE_WEBHOOK_SECRET,
      graceMs: env.MDHUB_BILLING_GRACE_MS,
      metrics: createBillingMetrics(ctx.metrics),
      logger,
    }),
  );

  // A privileged change (operators, grants, status) is signed into a checkpoint before its caller
  // hears it succeeded, so cutting it from the log's tail afterwards cannot go unnoticed.
  app.use('/admin/*', async (c, next) => {
    await next();
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.res.status < 400)
      await checkpointer.signPrivileged();
  });
  app.use('/admin/*', operatorAuth(db, { addresses: new ClientAddresses(env.MDHUB_TRUSTED_PROXIES) }));
  app.use('/admin/*', requireJsonBody());
  for (const guard of ADMIN_GUARDS) {
    const check = requirePermission(guard.permission);
    if (guard.method) app.on(guard.method, [...guard.paths], check);
    else for (const path of guard.paths) app.use(path, check);
  }
  app.route(
    '/admin',
    entitlementRoutes({ db, bus, changes, catalog, defaultSessionLimit: env.MDHUB_SESSION_LIMIT, logger }),
  );
  app.route(
    '/admin',
    auditRoutes(db, {
      checkpoints: checkpointOptions(env),
      checkpointIntervalMs: env.MDHUB_AUDIT_CHECKPOINT_MS,
    }),
  );
  app.route('/admin', evidenceRoutes({ db, checkpoints: checkpointOptions(env) }));
  app.route('/admin', reportRoutes({ db, catalog }));
  const drift = startDriftWatch({ db, catalog, metrics: ctx.metrics, logger });
  app.route('/admin', filingRoutes({ db, catalog, drift }));
  app.route(
    '/admin',
    reconciliationRoutes({
      db,
      catalog,
      prices: loadPrices(catalog, env.MDHUB_PRICES),
      provider: paymentProvider(env),
    }),
  );

  mountWeb(ctx);

  const running: RunningRole[] = [changes, checkpointer, drift, await startBillingWorker(ctx, changes)];
  return {
    async stop() {
      for (const role of running.reverse()) await role.stop();
    },
  };
};

/**
 * The api role's checkpointer, from the environment: a key that cannot be loaded stops the role
 * from starting; a key kept beside the checkpoints is warned about once.
 */
export async function startAuditCheckpoints(ctx: HubContext): Promise<RunningRole & Checkpointer> {
  const { db, env, logger } = ctx;
  const checkpoints = checkpointOptions(env);
  const key = await loadCheckpointKey(checkpoints, { create: true });
  if (!key) throw new Error('audit checkpoint key could not be created');
  const warning = keyPlacementWarning(checkpoints, env.MDHUB_DATA_DIR);
  if (warning) logger.warn(warning);
  const checkpointer = await createCheckpointer({
    db,
    checkpoints,
    key,
    intervalMs: env.MDHUB_AUDIT_CHECKPOINT_MS,
    logger,
    metrics: ctx.metrics,
  });
  checkpointer.start();
  return checkpointer;
}

/**
 * The billing worker. Without Stripe configured it still closes months into the outbox, so
 * nothing is lost before Stripe is set up (within Stripe's 35-day window). `changes` is the
 * role's change relay, flushed when billing holds change a user's delinquency.
 */
export async function startBillingWorker(ctx: HubContext, changes?: ChangeRelay): Promise<RunningRole> {
  const provider = paymentProvider(ctx.env);
  if (!provider) ctx.logger.warn('STRIPE_SECRET_KEY is not set: billing charges are queued, not sent');
  const worker = new BillingWorker({
    db: ctx.db,
    bus: ctx.bus,
    changes,
    catalog: ctx.catalog,
    prices: loadPrices(ctx.catalog, ctx.env.MDHUB_PRICES),
    provider,
    metrics: createBillingMetrics(ctx.metrics),
    logger: ctx.logger,
    now: ctx.now,
  });
  worker.start();
  return { stop: () => worker.stop() };
}
