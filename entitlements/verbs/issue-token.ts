import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { recordChanges } from '../changes.js';
import { authorize } from '../permissions.js';
import { generateToken, hashToken, newTokenId, USER_TOKEN_PREFIX } from '../tokens.js';
import { lockOpenUser, userSubject, type VerbOutcome } from './common.js';

export interface IssueTokenInput {
  userId: string;
  /** Binds the token to one device (counted per device for `device` products). */
  deviceId?: string;
}

export interface IssuedToken {
  id: string;
  /** The secret itself: returned this once, stored only as its SHA-256 hash. */
  token: string;
  deviceId: string | null;
  createdAt: number;
}

export async function issueToken({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: IssueTokenInput;
}): Promise<VerbOutcome<IssuedToken>> {
  authorize(ctx.actor, 'tokens.manage');
  await lockOpenUser(ctx.tx, input.userId);
  const issued: IssuedToken = {
    id: newTokenId(),
    token: generateToken(USER_TOKEN_PREFIX),
    deviceId: input.deviceId ?? null,
    createdAt: ctx.at,
  };
  await ctx.tx.query(
    'insert into user_tokens (id, user_id, token_hash, device_id, created_at) values ($1, $2, $3, $4, $5)',
    [issued.id, input.userId, hashToken(issued.token), issued.deviceId, issued.createdAt],
  );
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'token.issue',
    subject: userSubject(input.userId),
    after: { tokenId: issued.id, deviceId: issued.deviceId },
    at: ctx.at,
  });
  return { value: issued, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
