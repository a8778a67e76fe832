import { Hono } from 'hono';
import { can, PERMISSIONS, type Permission } from '../entitlements/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';

export interface Me {
  id: string;
  role: string;
  permissions: Permission[];
}

/**
 * `GET /me`, to mount under `/admin` behind operator authentication: who the token belongs to and
 * what it may do, so the console shows only what the operator can use. The server still checks
 * every call; this only spares people buttons that would answer 403.
 */
export function meRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/me', (c) => {
    const actor = c.get('actor');
    if (actor?.type !== 'operator') {
      throw new DomainError(
        'unauthenticated',
        'unauthorized',
        'an operator token is required: Authorization: Bearer <token>',
      );
    }
    const permissions = (Object.keys(PERMISSIONS) as Permission[]).filter((p) => can(actor, p));
    const me: Me = { id: actor.id, role: actor.role, permissions };
    return c.json(me);
  });
  return app;
}
