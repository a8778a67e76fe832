import { appendAudit } from '../../audit/index.js';
import type { OperatorRole, VerbContext } from '../../platform/actor.js';
import { NO_CHANGES } from '../changes.js';
import { ConflictError } from '../errors.js';
import { authorize } from '../permissions.js';
import { generateToken, hashToken, OPERATOR_TOKEN_PREFIX } from '../tokens.js';
import type { VerbOutcome } from './common.js';

export interface CreateOperatorInput {
  id: string;
  role: OperatorRole;
  /** A token chosen by the caller (`MDHUB_ADMIN_TOKEN`); omitted, one is generated. */
  token?: string;
}

export interface CreatedOperator {
  id: string;
  role: OperatorRole;
  /** Returned this once; stored only as its SHA-256 hash. */
  token: string;
  createdAt: number;
}

export function operatorSubject(operatorId: string): string {
  return `operator:${operatorId}`;
}

export async function createOperator({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: CreateOperatorInput;
}): Promise<VerbOutcome<CreatedOperator>> {
  authorize(ctx.actor, 'operators.manage');
  const token = input.token ?? generateToken(OPERATOR_TOKEN_PREFIX);
  const { rowCount } = await ctx.tx.query(
    `insert into operators (id, role, token_hash, created_at) values ($1, $2, $3, $4) on conflict do nothing`,
    [input.id, input.role, hashToken(token), ctx.at],
  );
  if (rowCount === 0) {
    throw new ConflictError(
      'operator_exists',
      `an operator with id ${JSON.stringify(input.id)} (or that token) exists`,
    );
  }
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'operator.create',
    subject: operatorSubject(input.id),
    after: { id: input.id, role: input.role },
    at: ctx.at,
  });
  return { value: { id: input.id, role: input.role, token, createdAt: ctx.at }, changed: NO_CHANGES };
}
