import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { NO_CHANGES, recordChanges } from '../changes.js';
import { NotFoundError } from '../errors.js';
import { authorize } from '../permissions.js';
import { lockUser, userSubject, type VerbOutcome } from './common.js';

export interface RevokeTokenInput {
  userId: string;
  tokenId: string;
}

/** Revokes one of the user's tokens now; `revoked` is false when it already was. */
export async function revokeToken({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: RevokeTokenInput;
}): Promise<VerbOutcome<{ revoked: boolean }>> {
  authorize(ctx.actor, 'tokens.manage');
  await lockUser(ctx.tx, input.userId);
  const { rows } = await ctx.tx.query<{ revoked_at: number | null; device_id: string | null }>(
    'select revoked_at, device_id from user_tokens where id = $1 and user_id = $2 for update',
    [input.tokenId, input.userId],
  );
  const token = rows[0];
  if (!token) {
    throw new NotFoundError(
      'unknown_token',
      `user ${JSON.stringify(input.userId)} has no token ${JSON.stringify(input.tokenId)}`,
    );
  }
  if (token.revoked_at !== null) return { value: { revoked: false }, changed: NO_CHANGES };
  await ctx.tx.query('update user_tokens set revoked_at = $1 where id = $2', [ctx.at, input.tokenId]);
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'token.revoke',
    subject: userSubject(input.userId),
    before: { tokenId: input.tokenId, deviceId: token.device_id, revokedAt: null },
    after: { tokenId: input.tokenId, deviceId: token.device_id, revokedAt: ctx.at },
    at: ctx.at,
  });
  return { value: { revoked: true }, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
