/**
 * The admin API's routes as data: method, path, schemas, responses and the permission each needs.
 * `routes.ts` serves them and `openapi.ts` documents them, so the two cannot drift apart.
 */
import { createRoute, type z } from '@hono/zod-openapi';
import { type Permission, rolesFor } from '../permissions.js';
import { requirePermission } from './auth.js';
import * as s from './schemas.js';

const ERROR_TEXT = {
  400: 'Invalid request: a parameter or the body does not match the schema',
  401: 'Missing, unknown or revoked operator token',
  403: 'The operator’s role may not do this',
  404: 'Unknown user, product, token or operator',
  409: 'Conflicts with the current state (exists already, account closed, last admin)',
  413: 'Request body larger than 64 KiB',
} as const;

type ErrorStatus = keyof typeof ERROR_TEXT;

function errors(...statuses: ErrorStatus[]) {
  const all: ErrorStatus[] = [400, 401, 403, ...statuses];
  return Object.fromEntries(
    all.map((status) => [
      status,
      { description: ERROR_TEXT[status], content: { 'application/json': { schema: s.errorBody } } },
    ]),
  );
}

function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

function body<T extends z.ZodType>(schema: T, required = true) {
  return { required, content: { 'application/json': { schema } } };
}

function guarded(permission: Permission, summary: string) {
  return {
    summary,
    description: `Roles: ${rolesFor(permission).join(', ')}.`,
    security: [{ operatorToken: [] }],
    tags: ['entitlements'],
    middleware: requirePermission(permission),
  };
}

export const createUserRoute = createRoute({
  method: 'post',
  path: '/users',
  ...guarded('users.create', 'Create a user'),
  request: { body: body(s.createUserBody) },
  responses: { 201: json(s.createdUser, 'The user, created'), ...errors(409, 413) },
});

export const listUsersRoute = createRoute({
  method: 'get',
  path: '/users',
  ...guarded('users.read', 'List or search users, each with the decision now per product'),
  request: { query: s.listQuery },
  responses: { 200: json(s.userPage, 'One page of users in id order'), ...errors() },
});

export const getUserRoute = createRoute({
  method: 'get',
  path: '/users/{id}',
  ...guarded('users.read', 'A user: grants, agreements, attestations, tokens, category, decisions'),
  request: { params: s.userParams },
  responses: { 200: json(s.userDetail, 'The user'), ...errors(404) },
});

export const updateContactRoute = createRoute({
  method: 'patch',
  path: '/users/{id}',
  ...guarded('users.create', 'Correct a user’s email, name or postal address (null clears one)'),
  request: { params: s.userParams, body: body(s.contactBody) },
  responses: { 200: json(s.contact, 'The contact now'), ...errors(404, 413) },
});

export const attestRoute = createRoute({
  method: 'post',
  path: '/users/{id}/attestations',
  ...guarded(
    'attestations.record',
    'Record a professional / non-professional attestation, now or (a correction) as of when it took effect',
  ),
  request: { params: s.userParams, body: body(s.attestationBody) },
  responses: { 201: json(s.attestation, 'The attestation, recorded'), ...errors(404, 409, 413) },
});

export const agreementRoute = createRoute({
  method: 'post',
  path: '/users/{id}/agreements',
  ...guarded('agreements.record', 'Record acceptance of the product licensor’s current subscriber agreement'),
  request: { params: s.userParams, body: body(s.agreementBody) },
  responses: {
    200: json(s.agreementAcceptance, 'This version was already on file'),
    201: json(s.agreementAcceptance, 'The acceptance, recorded'),
    ...errors(404, 409, 413),
  },
});

export const grantRoute = createRoute({
  method: 'put',
  path: '/users/{id}/entitlements/{product}',
  ...guarded(
    'grants.change',
    'Grant real time for a product, replacing the current grant; with `reason`, backdated to `validFrom`',
  ),
  request: { params: s.productParams, body: body(s.grantBody) },
  responses: {
    200: json(s.grantResult, 'The new grant and the grants it replaced'),
    ...errors(404, 409, 413),
  },
});

export const deliveryRateRoute = createRoute({
  method: 'put',
  path: '/users/{id}/delivery-rate',
  ...guarded(
    'grants.change',
    'Set the user’s delivery rate (updates a second per symbol, every product); null removes it',
  ),
  request: { params: s.userParams, body: body(s.deliveryRateBody) },
  responses: { 200: json(s.deliveryRateChange, 'The user’s rate now'), ...errors(404, 409, 413) },
});

export const revokeRoute = createRoute({
  method: 'delete',
  path: '/users/{id}/entitlements/{product}',
  ...guarded(
    'grants.change',
    'End real time for a product now; with `effectiveAt` and `reason`, recorded as ended then',
  ),
  request: { params: s.productParams, query: s.revokeQuery },
  responses: {
    200: json(s.revokeResult, 'The grants ended (none when there was nothing to end)'),
    ...errors(404),
  },
});

export const issueTokenRoute = createRoute({
  method: 'post',
  path: '/users/{id}/tokens',
  ...guarded('tokens.manage', 'Issue a user API token (shown once)'),
  request: { params: s.userParams, body: body(s.tokenBody, false) },
  responses: { 201: json(s.issuedToken, 'The token; it is never shown again'), ...errors(404, 409, 413) },
});

export const revokeTokenRoute = createRoute({
  method: 'delete',
  path: '/users/{id}/tokens/{tokenId}',
  ...guarded('tokens.manage', 'Revoke a user API token'),
  request: { params: s.tokenParams },
  responses: { 200: json(s.revokedFlag, 'Whether the token was revoked by this call'), ...errors(404) },
});

export const statusRoute = createRoute({
  method: 'post',
  path: '/users/{id}/status',
  ...guarded('status.change', 'Suspend, reactivate or close an account'),
  request: { params: s.userParams, body: body(s.statusBody) },
  responses: { 200: json(s.statusChange, 'The status now'), ...errors(404, 409, 413) },
});

export const createOperatorRoute = createRoute({
  method: 'post',
  path: '/operators',
  ...guarded('operators.manage', 'Create an operator (token shown once)'),
  request: { body: body(s.operatorBody) },
  responses: { 201: json(s.createdOperator, 'The operator and its token'), ...errors(409, 413) },
});

export const revokeOperatorRoute = createRoute({
  method: 'delete',
  path: '/operators/{id}',
  ...guarded('operators.manage', 'Revoke an operator'),
  request: { params: s.operatorParams },
  responses: {
    200: json(s.revokedFlag, 'Whether the operator was revoked by this call'),
    ...errors(404, 409),
  },
});

export const ROUTES = [
  createUserRoute,
  listUsersRoute,
  getUserRoute,
  updateContactRoute,
  attestRoute,
  agreementRoute,
  grantRoute,
  deliveryRateRoute,
  revokeRoute,
  issueTokenRoute,
  revokeTokenRoute,
  statusRoute,
  createOperatorRoute,
  revokeOperatorRoute,
];
