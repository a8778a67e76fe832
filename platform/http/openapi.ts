/**
 * Routes as documents: each module describes the routes it serves with the zod schemas those
 * routes validate with, as `RouteDoc`s beside the routes, and the composition root gathers them
 * into one OpenAPI 3.1 document (`openApiDocument`). The pieces every description needs — the
 * error envelope, the usual error answers, JSON and file bodies — are here so they read the same
 * everywhere.
 */
import { OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';

/** One route as the OpenAPI document shows it (paths in OpenAPI's `{param}` form). */
export type RouteDoc = Omit<RouteConfig, 'middleware'>;

/** One answer of a route. */
export type ResponseDoc = RouteConfig['responses'][number];

/** A module's routes and where they are mounted. */
export interface RouteGroup {
  /** Prefix of every path in `routes` (the `app.route` mount point), e.g. `/admin`. */
  mount?: string;
  routes: readonly RouteDoc[];
}

/** The one error envelope every route answers errors with (platform/http/errors.ts). */
export const errorEnvelope = z
  .object({
    error: z.object({
      code: z.string(),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: 'Invalid request: a parameter or the body does not match the schema',
  401: 'Missing, unknown or revoked token',
  403: 'The caller may not do this',
  404: 'Not found',
  409: 'Conflicts with the current state',
  413: 'Request body too large',
  415: 'The body is not sent as application/json',
  422: 'Well-formed, but refused',
  429: 'Too many requests; Retry-After says when to try again',
  502: 'The market-data vendor answered with an error',
  503: 'A dependency is unavailable; try again',
  504: 'The market-data vendor did not answer in time',
};

/** Error answers in the envelope: a status alone takes the usual text, `[status, text]` its own. */
export function errorResponses(...answers: Array<number | readonly [number, string]>) {
  return Object.fromEntries(
    answers.map((answer) => {
      const [status, text] = typeof answer === 'number' ? [answer, ERROR_TEXT[answer] ?? 'Error'] : answer;
      return [status, { description: text, content: { 'application/json': { schema: errorEnvelope } } }];
    }),
  );
}

/** A JSON answer of `schema`. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** An answer of one of `types` whose bytes the schema does not describe (a file, a page, a stream). */
export function fileResponse(
  types: readonly string[],
  description: string,
  headers?: Record<string, string>,
): ResponseDoc {
  return {
    description,
    content: Object.fromEntries(types.map((type) => [type, { schema: z.string() }])),
    ...(headers
      ? {
          headers: z.object(
            Object.fromEntries(
              Object.entries(headers).map(([name, text]) => [name, z.string().describe(text)]),
            ),
          ),
        }
      : {}),
  };
}

/** A JSON request body of `schema`. */
export function jsonBody<T extends z.ZodType>(schema: T, required = true) {
  return { required, content: { 'application/json': { schema } } };
}

/** A JSON object the document names but does not spell out field by field. */
export const anyObject = z.record(z.string(), z.unknown());

/** No authentication: said on the route, so a route that forgets its security is not read as public. */
export const PUBLIC: RouteDoc['security'] = [];

/** `GET /healthz`, `GET /readyz` and `GET /metrics`, which every process serves (app.ts). */
export const platformRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/healthz',
    tags: ['operations'],
    security: PUBLIC,
    summary: 'Liveness: the process answers',
    responses: { 200: jsonResponse(z.object({ status: z.literal('ok') }), 'The process is alive') },
  },
  {
    method: 'get',
    path: '/readyz',
    tags: ['operations'],
    security: PUBLIC,
    summary: 'Readiness: every dependency this process needs answers (database, bus, vendor feed)',
    responses: {
      200: jsonResponse(readiness('ready'), 'Ready'),
      503: jsonResponse(readiness('not_ready'), 'Not ready: the failing checks name their dependency'),
    },
  },
  {
    method: 'get',
    path: '/metrics',
    tags: ['operations'],
    security: PUBLIC,
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: fileResponse(['text/plain; version=0.0.4; charset=utf-8'], 'The metrics') },
  },
];

function readiness(status: 'ready' | 'not_ready') {
  return z.object({
    status: z.literal(status),
    checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
  });
}

export type DocumentInfo = {
  title: string;
  version: string;
  description: string;
};

export type SecuritySchemes = Record<string, Record<string, unknown>>;

/** The OpenAPI 3.1 document of `groups`, as plain JSON. */
export function openApiDocument(
  info: DocumentInfo,
  securitySchemes: SecuritySchemes,
  groups: readonly RouteGroup[],
): ReturnType<OpenAPIHono['getOpenAPI31Document']> {
  const doc = new OpenAPIHono();
  for (const [name, scheme] of Object.entries(securitySchemes))
    doc.openAPIRegistry.registerComponent('securitySchemes', name, scheme as never);
  for (const { mount = '', routes } of groups)
    for (const route of routes) {
      const path = mount + route.path;
      doc.openAPIRegistry.registerPath({ operationId: operationId(route.method, path), ...route, path });
    }
  return doc.getOpenAPI31Document({
    openapi: '3.1.0',
    info,
    servers: [{ url: '/', description: 'This hub' }],
  });
}

/** `get /admin/users/{id}/tokens` → `getAdminUsersIdTokens`: unique while (method, path) is. */
function operationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter((word) => word !== '');
  return method + words.map((word) => word[0]?.toUpperCase() + word.slice(1)).join('');
}
