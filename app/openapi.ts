import { auditRouteDocs } from '../audit/index.js';
import { reconciliationRouteDocs, webhookRouteDocs } from '../billing/index.js';
import { restRouteDocs, streamRouteDocs } from '../distribution/index.js';
import { entitlementRouteDocs } from '../entitlements/index.js';
import {
  anyObject,
  jsonResponse,
  openApiDocument,
  PUBLIC,
  platformRouteDocs,
  type RouteDoc,
  type RouteGroup,
} from '../platform/http/openapi.js';
import { evidenceRouteDocs, filingRouteDocs, reportRouteDocs } from '../usage/index.js';
import { webRouteDocs } from '../web/index.js';
import { rolesOf } from './guards.js';

const SECURITY_SCHEMES = {
  operatorToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'An operator token (`MDHUB_ADMIN_TOKEN`, or one issued by POST /admin/operators)',
  },
  userToken: {
    type: 'http',
    scheme: 'bearer',
    description: 'A user token (mdu_…), issued by POST /admin/users/{id}/tokens',
  },
  userApiKey: {
    type: 'apiKey',
    in: 'query',
    name: 'apiKey',
    description: 'A user token as Polygon’s REST API takes it: ?apiKey=mdu_…',
  },
  stripeSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'Stripe-Signature',
    description: 'Stripe’s signature over the raw body, with STRIPE_WEBHOOK_SECRET',
  },
};

const DOCUMENT: RouteGroup = {
  routes: [
    {
      method: 'get',
      path: '/openapi.json',
      tags: ['operations'],
      security: PUBLIC,
      summary: 'This document: every route the hub serves, from the schemas the routes validate with',
      responses: { 200: jsonResponse(anyObject, 'OpenAPI 3.1') },
    },
  ],
};

/** An admin route without security of its own gets the operator token and the roles its guards leave. */
function guarded(mount: string, route: RouteDoc): RouteDoc {
  const path = mount + route.path;
  if (route.security !== undefined || !path.startsWith('/admin/')) return route;
  const roles = rolesOf(route.method, path);
  const who = roles === undefined ? 'Roles: any operator.' : `Roles: ${roles.join(', ')}.`;
  return {
    ...route,
    security: [{ operatorToken: [] }],
    description: route.description === undefined ? who : `${who} ${route.description}`,
  };
}

/**
 * The OpenAPI 3.1 document of every route a hub serves — operations, the admin API (entitlements,
 * reports, filings, reconciliation, audit, the console's own), the Stripe webhook, the pages, the
 * REST market data and the WebSocket — gathered from the modules, each described by the zod
 * schemas it validates with. Served at `/openapi.json`.
 */
export function hubOpenApiDocument() {
  const groups: RouteGroup[] = [
    { routes: platformRouteDocs },
    DOCUMENT,
    entitlementRouteDocs(),
    reportRouteDocs,
    filingRouteDocs,
    reconciliationRouteDocs,
    auditRouteDocs,
    evidenceRouteDocs,
    webhookRouteDocs,
    ...webRouteDocs,
    restRouteDocs,
    streamRouteDocs,
  ];
  return openApiDocument(
    {
      title: 'mdhub',
      version: '1',
      description:
        'The hub’s HTTP surface: health and metrics; the admin API behind operator tokens (users, grants, tokens, operators, reports, filings, reconciliation, audit); the Stripe webhook; the pages; Polygon’s REST routes and stocks WebSocket behind user tokens. An edge-only process serves the market-data routes, an api-only process the rest.',
    },
    SECURITY_SCHEMES,
    groups.map(({ mount = '', routes }) => ({ mount, routes: routes.map((route) => guarded(mount, route)) })),
  );
}
