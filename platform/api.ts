import { auditRoutes, checkpointOptions, reportRoutes, startAuditCheckpoints } from '../audit/index.js';
import {
  createBillingMetrics,
  loadPrices,
  paymentProviderFromEnv,
  reconciliationRoutes,
  startBillingWorker,
  stripeWebhookRoutes,
} from '../billing/index.js';
import {
  ChangeRelay,
  ensureAdminOperator,
  entitlementRoutes,
  openApiDocument,
  operatorAuth,
  requirePermission,
} from '../entitlements/index.js';
import { mountWeb } from '../web/index.js';
import { ClientAddresses } from './http/client-address.js';
import type { RoleStarter, RunningRole } from './hub.js';

/**
 * The `api` role: the admin API behind operator tokens, with each route group's permission
 * stated here in one place; the Stripe webhook (authenticated by its signature instead); the
 * billing worker and the periodic audit checkpoints; the quote board and the operator console.
 * Every entitlement change made here goes through one change relay, which also sweeps the outbox
 * for what a failed publish or a crashed api process left unpublished.
 */
export const startApi: RoleStarter = async (ctx) => {
  const { app, db, bus, catalog, env, logger } = ctx;
  await ensureAdminOperator({ db, token: env.MDHUB_ADMIN_TOKEN, at: Date.now(), logger });
  const changes = new ChangeRelay({ db, control: bus.control, logger });
  changes.start();
  const checkpointer = await startAuditCheckpoints(ctx);

  app.get('/openapi.json', (c) => c.json(openApiDocument()));
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
  for (const path of ['/admin/audit', '/admin/audit/*']) app.use(path, requirePermission('audit.read'));
  app.use('/admin/audit/checkpoint', requirePermission('audit.checkpoint'));
  app.use('/admin/reports/*', requirePermission('reports.read'));
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
  app.route('/admin', reportRoutes({ db, catalog }));
  app.route(
    '/admin',
    reconciliationRoutes({
      db,
      catalog,
      prices: loadPrices(catalog, env.MDHUB_PRICES),
      provider: paymentProviderFromEnv(env),
    }),
  );

  mountWeb(ctx);

  const running: RunningRole[] = [changes, checkpointer, await startBillingWorker(ctx, changes)];
  return {
    async stop() {
      for (const role of running.reverse()) await role.stop();
    },
  };
};
