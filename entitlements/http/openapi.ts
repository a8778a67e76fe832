import { OpenAPIHono } from '@hono/zod-openapi';
import { ROUTES } from './contract.js';

/** Where `entitlementRoutes` is mounted; the document names full paths. */
const MOUNT = '/admin';

/**
 * The OpenAPI 3.1 document of the entitlements admin API, generated from the zod schemas the
 * routes validate with. Serve it at `/openapi.json`.
 */
export function openApiDocument(): ReturnType<OpenAPIHono['getOpenAPI31Document']> {
  const doc = new OpenAPIHono();
  doc.openAPIRegistry.registerComponent('securitySchemes', 'operatorToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'An operator token (`MDHUB_ADMIN_TOKEN`, or one issued by POST /admin/operators)',
  });
  for (const { middleware: _guard, ...route } of ROUTES) {
    doc.openAPIRegistry.registerPath({ ...route, path: MOUNT + route.path });
  }
  return doc.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'mdhub admin API: entitlements',
      version: '1',
      description: 'Users, categories, subscriber agreements, real-time grants, user tokens and operators.',
    },
  });
}
