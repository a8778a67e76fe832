import { auditRoutes, checkpointOptions, startAuditCheckpoints } from '../audit/index.js';
import {
  ensureAdminOperator,
  entitlementRoutes,
  openApiDocument,
  operatorAuth,
  requirePermission,
} from '../entitlements/index.js';
import type { RoleStarter, RunningRole } from './hub.js';

/**
 * The `api` role: the admin API behind operator tokens, with each route group's permission
 * stated here in one place, plus the periodic audit checkpoints. Routes from other modules are
 * mounted below `/admin` after the one authentication middleware.
 */
export const startApi: RoleStarter = async (ctx) => {
  const { app, db, bus, catalog, env, logger } = ctx;
  await ensureAdminOperator({ db, token: env.MDHUB_ADMIN_TOKEN, at: Date.now(), logger });

  app.get('/openapi.json', (c) => c.json(openApiDocument()));
  app.use('/admin/*', operatorAuth(db));
  for (const path of ['/admin/audit', '/admin/audit/*']) app.use(path, requirePermission('audit.read'));
  app.route(
    '/admin',
    entitlementRoutes({ db, bus, catalog, defaultSessionLimit: env.MDHUB_SESSION_LIMIT, logger }),
  );
  app.route('/admin', auditRoutes(db, { checkpoints: checkpointOptions(env) }));

  const roles: RunningRole[] = [await startAuditCheckpoints(ctx)];
  return {
    async stop() {
      for (const role of roles.reverse()) await role.stop();
    },
  };
};
