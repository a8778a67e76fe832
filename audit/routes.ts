import { Hono } from 'hono';
import type { Queryable } from '../platform/db/types.js';
import type { AppEnv } from '../platform/http/app.js';
import { ApiError } from '../platform/http/errors.js';
import type { CheckpointOptions } from './checkpoint-key.js';
import { auditQuerySchema, describeIssues, queryAudit } from './query.js';
import { verifyAudit } from './verify.js';

export interface AuditRoutesOptions {
  /** Where the signed checkpoints are; verification checks the log against them. Default: none. */
  checkpoints?: CheckpointOptions;
  /** `MDHUB_AUDIT_CHECKPOINT_MS`: a log this old with no checkpoint anywhere fails. Default: not checked. */
  checkpointIntervalMs?: number;
}

/**
 * `GET /audit/verify` and `GET /audit`, to be mounted under `/admin`. Who may call them
 * (admin, compliance) is decided by the operator authentication wrapped around the group.
 */
export function auditRoutes(db: Queryable, options: AuditRoutesOptions = {}): Hono<AppEnv> {
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
    if (!parsed.success) {
      const issues = parsed.error.issues.map((issue) => ({
        param: issue.path.join('.'),
        message: issue.message,
      }));
      throw new ApiError(400, 'invalid_query', describeIssues(parsed.error), issues);
    }
    return c.json(await queryAudit(db, parsed.data));
  });

  return app;
}
