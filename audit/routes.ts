import { Hono } from 'hono';
import type { Db } from '../platform/db/index.js';
import { DomainError } from '../platform/errors.js';
import type { AppEnv } from '../platform/http/app.js';
import {
  anyObject,
  errorResponses,
  fileResponse,
  jsonResponse,
  type RouteGroup,
} from '../platform/http/openapi.js';
import { recordJson } from './chain.js';
import { takeCheckpoint } from './checkpoint.js';
import { type CheckpointOptions, loadCheckpointKey } from './checkpoint-key.js';
import { auditFilterSchema, auditQuerySchema, describeIssues, queryAudit, streamAudit } from './query.js';
import { verifyAudit } from './verify.js';

export interface AuditRoutesOptions {
  /** Where the signed checkpoints are; verification checks the log against them. Default: none. */
  checkpoints?: CheckpointOptions;
  /** `MDHUB_AUDIT_CHECKPOINT_MS`: a log this old with no checkpoint anywhere fails. Default: not checked. */
  checkpointIntervalMs?: number;
}

function invalidQuery(error: Parameters<typeof describeIssues>[0]): DomainError {
  const issues = error.issues.map((issue) => ({ param: issue.path.join('.'), message: issue.message }));
  return new DomainError('invalid', 'invalid_query', describeIssues(error), { details: issues });
}

/**
 * `GET /audit/verify`, `GET /audit`, `GET /audit/export` and `POST /audit/checkpoint`, to be
 * mounted under `/admin`. Who may call them is decided by the operator authentication wrapped
 * around the group; checkpointing writes, so it is guarded more narrowly than reading.
 */
export function auditRoutes(db: Db, options: AuditRoutesOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // A failed verification is still a successful answer to "is the log intact?": 200 either way.
  app.get('/audit/verify', async (c) =>
    c.json(
      await verifyAudit(db, {
        checkpoints: options.checkpoints,
        checkpointIntervalMs: options.checkpointIntervalMs,
      }),
    ),
  );

  app.get('/audit', async (c) => {
    const parsed = auditQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw invalidQuery(parsed.error);
    return c.json(await queryAudit(db, parsed.data));
  });

  // The records as `mdhub audit export` writes them: canonical JSON lines, hashes included,
  // streamed page by page so a large log never sits in memory.
  app.get('/audit/export', async (c) => {
    const parsed = auditFilterSchema.safeParse(c.req.query());
    if (!parsed.success) throw invalidQuery(parsed.error);
    const records = streamAudit(db, parsed.data)[Symbol.asyncIterator]();
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await records.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(`${recordJson(next.value, true)}\n`));
      },
      async cancel() {
        await records.return(undefined);
      },
    });
    return c.body(body, 200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
  });

  // Signs the head now with the hub's own key, as the periodic checkpoints do.
  app.post('/audit/checkpoint', async (c) => {
    const checkpoints = options.checkpoints;
    if (!checkpoints) throw new DomainError('not_found', 'not_found', 'audit checkpoints are not configured');
    const key = await loadCheckpointKey(checkpoints, { create: true });
    if (!key)
      throw new DomainError('internal', 'checkpoint_key', 'the audit checkpoint key could not be created');
    const result = await takeCheckpoint(db, checkpoints, { key });
    if (!result.ok)
      throw new DomainError('conflict', 'checkpoint_refused', `${result.message} (${result.reason})`, {
        details: result,
      });
    return c.json({ latest: result.latest ?? null, file: result.file, undelivered: result.undelivered });
  });

  return app;
}

/** The audit routes as the OpenAPI document shows them, under `/admin`, from the schemas they validate with. */
export const auditRouteDocs: RouteGroup = {
  mount: '/admin',
  routes: [
    {
      method: 'get',
      path: '/audit/verify',
      tags: ['audit'],
      summary: 'Verify the audit log: the hash chain, the signed checkpoints and their witnesses',
      description:
        'A failed verification is still an answer to "is the log intact?": 200 either way, `ok` says which.',
      responses: {
        200: jsonResponse(
          anyObject,
          'The verification: ok, the head, checkpoints and witnesses, the first break found',
        ),
        ...errorResponses(401, 403),
      },
    },
    {
      method: 'get',
      path: '/audit',
      tags: ['audit'],
      summary: 'A page of audit records in sequence order, by subject and time',
      request: { query: auditQuerySchema },
      responses: {
        200: jsonResponse(
          anyObject,
          '`records` and `next` (pass as `after` for the next page; null on the last)',
        ),
        ...errorResponses(400, 401, 403),
      },
    },
    {
      method: 'get',
      path: '/audit/export',
      tags: ['audit'],
      summary:
        'Every matching record as canonical JSON lines, hashes included (as `mdhub audit export` writes)',
      request: { query: auditFilterSchema },
      responses: {
        200: fileResponse(['application/x-ndjson; charset=utf-8'], 'One record per line, streamed'),
        ...errorResponses(400, 401, 403),
      },
    },
    {
      method: 'post',
      path: '/audit/checkpoint',
      tags: ['audit'],
      summary: 'Sign the log’s head into a checkpoint now, as the periodic checkpoints do',
      responses: {
        200: jsonResponse(
          anyObject,
          '`latest` checkpoint, its `file`, and the witnesses it is `undelivered` to',
        ),
        ...errorResponses(
          401,
          403,
          [404, 'Audit checkpoints are not configured'],
          [409, 'The checkpoint was refused (the log does not verify)'],
        ),
      },
    },
  ],
};
