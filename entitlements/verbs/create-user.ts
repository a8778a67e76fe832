import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { recordChanges } from '../changes.js';
import { ConflictError } from '../errors.js';
import { authorize } from '../permissions.js';
import { userSubject, type VerbOutcome } from './common.js';
import { checkRate } from './delivery-rate.js';

export interface CreateUserInput {
  id: string;
  email?: string;
  name?: string;
  /** Postal address, free text: what a licensor's detail file names the subscriber by. */
  address?: string;
  /** Concurrent sessions allowed; omitted, the deployment default applies. */
  sessionLimit?: number;
  /** The user's delivery rate, updates a second per symbol (1 to 1000); omitted, no limit. */
  maxUpdatesPerSecond?: number;
}

export interface CreatedUser {
  id: string;
  email: string | null;
  name: string | null;
  address: string | null;
  status: 'active';
  sessionLimit: number | null;
  maxUpdatesPerSecond: number | null;
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
  // So is a delivery rate: it is part of the plan sold.
  if (input.sessionLimit !== undefined || input.maxUpdatesPerSecond !== undefined) {
    authorize(ctx.actor, 'grants.change');
  }
  if (input.maxUpdatesPerSecond !== undefined) checkRate(input.maxUpdatesPerSecond);
  const user: CreatedUser = {
    id: input.id,
    email: input.email ?? null,
    name: input.name ?? null,
    address: input.address ?? null,
    status: 'active',
    sessionLimit: input.sessionLimit ?? null,
    maxUpdatesPerSecond: input.maxUpdatesPerSecond ?? null,
    createdAt: ctx.at,
  };
  const { rowCount } = await ctx.tx.query(
    `insert into users (id, email, name, address, status, billing_delinquent, session_limit, max_updates_per_second, created_at)
      values ($1, $2, $3, $4, 'active', false, $5, $6, $7) on conflict (id) do nothing`,
    [
      user.id,
      user.email,
      user.name,
      user.address,
      user.sessionLimit,
      user.maxUpdatesPerSecond,
      user.createdAt,
    ],
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
