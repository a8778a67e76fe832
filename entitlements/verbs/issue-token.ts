import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import type { Tx } from '../../platform/db/index.js';
import { recordChanges } from '../changes.js';
import { ForbiddenError } from '../errors.js';
import { authorize, can } from '../permissions.js';
import { generateToken, hashToken, newTokenId, type TokenUsage, USER_TOKEN_PREFIX } from '../tokens.js';
import { lockOpenUser, userSubject, type VerbOutcome } from './common.js';

export interface IssueTokenInput {
  userId: string;
  /** Binds the token to one device (counted per device for `device` products). */
  deviceId?: string;
  /** For a person's display (default) or for an application without one (`non_display`). */
  usage?: TokenUsage;
}

export interface IssuedToken {
  id: string;
  /** The secret itself: returned this once, stored only as its SHA-256 hash. */
  token: string;
  deviceId: string | null;
  usage: TokenUsage;
  createdAt: number;
}

/**
 * Whether binding a token to `deviceId` would reach a device the user has no token for while a
 * real-time grant of theirs is in force or yet to start. For a product counted per device that is
 * one more licensed subscriber receiving real time: a grant in all but name.
 */
async function addsRealtimeDevice(tx: Tx, userId: string, deviceId: string, at: number): Promise<boolean> {
  const { rows } = await tx.query<{ known: boolean; granted: boolean }>(
    `select exists (select 1 from user_tokens where user_id = $1 and device_id = $2) as known,
            exists (select 1 from grants where user_id = $1
                      and (valid_to is null or valid_to > $3) and (revoked_at is null or revoked_at > $3)) as granted`,
    [userId, deviceId, at],
  );
  const row = rows[0];
  return row !== undefined && !row.known && row.granted;
}

/**
 * Issues a user token. A token opens what the user is entitled to and nothing more; but a token
 * for a new device of a user with real time adds a device receiving it, so an operator who may
 * not grant (support) may issue one only for a device the user already has, or none. A token for
 * an application (`non_display`) opens a use with a fee of its own: only a role that may grant
 * issues one.
 */
export async function issueToken({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: IssueTokenInput;
}): Promise<VerbOutcome<IssuedToken>> {
  authorize(ctx.actor, 'tokens.manage');
  const usage = input.usage ?? 'display';
  if (usage === 'non_display' && !can(ctx.actor, 'grants.change')) {
    throw new ForbiddenError(
      'forbidden',
      'a non-display token opens a use the licensors charge for apart; only a role that may grant can issue it',
    );
  }
  await lockOpenUser(ctx.tx, input.userId);
  if (
    input.deviceId !== undefined &&
    !can(ctx.actor, 'grants.change') &&
    (await addsRealtimeDevice(ctx.tx, input.userId, input.deviceId, ctx.at))
  ) {
    throw new ForbiddenError(
      'forbidden',
      `a token for a new device of a user with real time adds a device receiving it; only a role that may grant can issue it (device ${JSON.stringify(input.deviceId)})`,
    );
  }
  const issued: IssuedToken = {
    id: newTokenId(),
    token: generateToken(USER_TOKEN_PREFIX),
    deviceId: input.deviceId ?? null,
    usage,
    createdAt: ctx.at,
  };
  await ctx.tx.query(
    'insert into user_tokens (id, user_id, token_hash, device_id, usage, created_at) values ($1, $2, $3, $4, $5, $6)',
    [issued.id, input.userId, hashToken(issued.token), issued.deviceId, usage, issued.createdAt],
  );
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'token.issue',
    subject: userSubject(input.userId),
    after: { tokenId: issued.id, deviceId: issued.deviceId, usage },
    at: ctx.at,
  });
  return { value: issued, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
