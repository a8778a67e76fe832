import { describe, expect, it } from 'vitest';
import { hubOpenApiDocument } from '../../app/openapi.js';

describe('OpenAPI document', () => {
  const doc = hubOpenApiDocument();

  it('is OpenAPI 3.1 and lists every entitlements route under /admin', () => {
    expect(doc.openapi).toBe('3.1.0');
    const routes = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      Object.entries(item as Record<string, { tags?: string[] }>)
        .filter(([, operation]) => operation.tags?.includes('entitlements'))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'POST /admin/users',
        'GET /admin/users',
        'GET /admin/users/{id}',
        'PATCH /admin/users/{id}',
        'POST /admin/users/{id}/attestations',
        'POST /admin/users/{id}/agreements',
        'PUT /admin/users/{id}/entitlements/{product}',
        'PUT /admin/users/{id}/delivery-rate',
        'DELETE /admin/users/{id}/entitlements/{product}',
        'POST /admin/users/{id}/tokens',
        'DELETE /admin/users/{id}/tokens/{tokenId}',
        'POST /admin/users/{id}/status',
        'POST /admin/operators',
        'DELETE /admin/operators/{id}',
      ].sort(),
    );
  });

  it('describes bodies, the error envelope and bearer authentication from the validating schemas', () => {
    const put = doc.paths?.['/admin/users/{id}/entitlements/{product}']?.put;
    const requestBody = put?.requestBody as { content: Record<string, { schema: unknown }> } | undefined;
    const schema = requestBody?.content['application/json']?.schema;
    expect(schema).toMatchObject({
      type: 'object',
      properties: { realtime: { type: 'boolean', enum: [true] } },
      required: ['realtime'],
      additionalProperties: false,
    });
    expect(put?.security).toEqual([{ operatorToken: [] }]);
    expect(put?.description).toBe('Roles: admin.');
    expect(Object.keys(put?.responses ?? {}).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '409',
      '413',
    ]);
    expect(doc.components?.securitySchemes?.operatorToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components?.schemas?.Error).toMatchObject({ required: ['error'] });
    expect(doc.components?.schemas?.Decision).toMatchObject({
      properties: { reasons: { items: { enum: expect.arrayContaining(['no_grant', 'session_limit']) } } },
    });
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc);
  });
});
