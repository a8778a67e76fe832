import { Hono } from 'hono';
import { z } from 'zod';
import { type CheckpointOptions, describeIssues } from '../audit/index.js';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import { errorResponses, fileResponse, type RouteGroup } from '../platform/http/openapi.js';
import { packEvidence } from './evidence-pack.js';
import { MONTH_PATTERN } from './month.js';

export interface EvidenceRoutesDeps {
  db: Db;
  /** The hub's checkpoints and the key verification trusts. */
  checkpoints: CheckpointOptions;
  /** The clock of the hand-out's audit record (default `Date.now`). */
  now?: () => number;
}

const packQuery = z.strictObject({
  month: z
    .string({ error: 'is required, written YYYY-MM' })
    .regex(MONTH_PATTERN, { message: 'must be written YYYY-MM' }),
});

/**
 * `GET /audit/pack?month=YYYY-MM`, to be mounted under `/admin`: the month's evidence pack as a
 * download, its SHA-256 and the audit record of the hand-out in headers. Admin and compliance
 * only (`reports.pack`, checked by the verb): the pack holds every counted user's history.
 */
export function evidenceRoutes(deps: EvidenceRoutesDeps): Hono<AppEnv> {
  const now = deps.now ?? Date.now;
  const app = new Hono<AppEnv>();

  app.get('/audit/pack', async (c) => {
    const parsed = packQuery.safeParse(c.req.query());
    if (!parsed.success) {
      const details = parsed.error.issues.map((issue) => ({
        param: issue.path.join('.'),
        message: issue.message,
      }));
      throw new DomainError('invalid', 'invalid_query', describeIssues(parsed.error), { details });
    }
    const actor = c.get('actor');
    if (!actor) throw new DomainError('unauthenticated', 'unauthorized', 'an operator token is required');
    const pack = await packEvidence(
      deps.db,
      { actor, at: now(), month: parsed.data.month },
      { checkpoints: deps.checkpoints },
    );
    return c.body(new Uint8Array(pack.bytes), 200, {
      'content-type': 'application/gzip',
      'content-disposition': `attachment; filename="${pack.folder}.tar.gz"`,
      'x-pack-sha256': pack.sha256,
      'x-pack-audit-seq': String(pack.auditSeq),
      'x-pack-summary': summaryHeader(pack),
    });
  });

  return app;
}

/** What the CLI prints after a pack fetched through a hub, in one header (ASCII, no line breaks). */
function summaryHeader(pack: Awaited<ReturnType<typeof packEvidence>>): string {
  return JSON.stringify({
    filings: pack.filings,
    users: pack.users,
    firstSeq: pack.firstSeq,
    head: pack.head,
    checkpoints: pack.checkpoints,
    files: pack.files,
  });
}

/** `GET /audit/pack` as the OpenAPI document shows it, under `/admin`. */
export const evidenceRouteDocs: RouteGroup = {
  mount: '/admin',
  routes: [
    {
      method: 'get',
      path: '/audit/pack',
      tags: ['audit'],
      summary:
        'The month’s evidence pack for an auditor: reports, filings, ledger, audit slice, checkpoints and verify.mjs',
      request: { query: packQuery },
      responses: {
        200: fileResponse(['application/gzip'], 'The pack (a .tar.gz); the hand-out is audited', {
          'x-pack-sha256': 'SHA-256 of the pack',
          'x-pack-audit-seq': 'Sequence of the hand-out’s audit record',
          'x-pack-summary': 'What the pack holds, as one line of JSON',
        }),
        ...errorResponses(400, 401, 403),
      },
    },
  ],
};
