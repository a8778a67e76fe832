import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { recordChanges } from '../changes.js';
import { ConflictError } from '../errors.js';
import { authorize } from '../permissions.js';
import { userSubject, type VerbOutcome } from './common.js';

export interface CreateUserInput {
  id: string;
  email?: string;
  name?: string;
  /** Postal address, free text: what a licensor's detail file names the subscriber by. */
  address?: string;
  /** Concurrent sessions allowed; omitted, the deployment default applies. */
  sessionLimit?: number;
}

export interface CreatedUser {
  id: string;
  email: string | null;
  name: string | null;
  address: string | null;
  status: 'active';
  sessionLimit: number | null;
  createdAt: number;
}

export async function createUser({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: CreateUserInput;
}): Promise<VerbOutcome<CreatedUser>> {
  authorize(ctx.actor, 'users.create');
  // A session limit is how many sessions may receive real time at once: setting one is granting.
  if (input.sessionLimit !== undefined) authorize(ctx.actor, 'grants.change');
  const user: CreatedUser = {
    id: input.id,
    email: input.email ?? null,
    name: input.name ?? null,
    address: input.address ?? null,
    status: 'active',
    sessionLimit: input.sessionLimit ?? null,
    createdAt: ctx.at,
  };
  const { rowCount } = await ctx.tx.query(
    `insert into users (id, email, name, address, status, billing_delinquent, session_limit, created_at)
      values ($1, $2, $3, $4, 'active', false, $5, $6) on conflict (id) do nothing`,
    [user.id, user.email, user.name, user.address, user.sessionLimit, user.createdAt],
  );
  if (rowCount === 0)
    throw new ConflictError('user_exists', `a user with id ${JSON.stringify(input.id)} exists`);
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'user.create',
    subject: userSubject(user.id),
    after: user,
    at: ctx.at,
  });
  return { value: user, changed: await recordChanges(ctx.tx, [user.id], ctx.at) };
}
