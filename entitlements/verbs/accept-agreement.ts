import { appendAudit } from '../../audit/index.js';
import { NO_CHANGES, recordChanges } from '../changes.js';
import { unknownProduct } from '../errors.js';
import { authorize } from '../permissions.js';
import { type CatalogContext, lockOpenUser, userSubject, type VerbOutcome } from './common.js';

export interface AcceptAgreementInput {
  userId: string;
  /** The product whose licensor's agreement was accepted. */
  product: string;
}

export interface AgreementAcceptance {
  licensor: string;
  name: string;
  version: string;
  acceptedAt: number;
  /** False when this version was already on file (nothing was recorded again). */
  created: boolean;
}

/** Records that the user accepted the product licensor's current subscriber agreement version. */
export async function acceptAgreement({
  ctx,
  input,
}: {
  ctx: CatalogContext;
  input: AcceptAgreementInput;
}): Promise<VerbOutcome<AgreementAcceptance>> {
  authorize(ctx.actor, 'agreements.record');
  const product = ctx.catalog.products.get(input.product);
  const licensor = product && ctx.catalog.licensors.get(product.licensor);
  if (!licensor) throw unknownProduct(input.product);
  await lockOpenUser(ctx.tx, input.userId);
  const { name, version } = licensor.agreement;
  const inserted = await ctx.tx.query<{ accepted_at: number }>(
    `insert into agreements (user_id, licensor, version, accepted_at) values ($1, $2, $3, $4)
      on conflict (user_id, licensor, version) do nothing returning accepted_at`,
    [input.userId, licensor.id, version, ctx.at],
  );
  if (inserted.rowCount === 0) {
    const { rows } = await ctx.tx.query<{ accepted_at: number }>(
      'select accepted_at from agreements where user_id = $1 and licensor = $2 and version = $3',
      [input.userId, licensor.id, version],
    );
    return {
      value: { licensor: licensor.id, name, version, acceptedAt: rows[0]!.accepted_at, created: false },
      changed: NO_CHANGES,
    };
  }
  const acceptance: AgreementAcceptance = {
    licensor: licensor.id,
    name,
    version,
    acceptedAt: ctx.at,
    created: true,
  };
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'agreement.accept',
    subject: userSubject(input.userId),
    after: { licensor: licensor.id, name, version, acceptedAt: ctx.at },
    details: { product: input.product },
    at: ctx.at,
  });
  return { value: acceptance, changed: await recordChanges(ctx.tx, [input.userId], ctx.at) };
}
