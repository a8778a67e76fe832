import { appendAudit } from '../../audit/index.js';
import type { VerbContext } from '../../platform/actor.js';
import { NO_CHANGES } from '../changes.js';
import { authorize } from '../permissions.js';
import { lockUser, userSubject, type VerbOutcome } from './common.js';

/** What may change of how a user is named and reached; null clears a field, absent leaves it. */
export interface UpdateContactInput {
  userId: string;
  email?: string | null;
  name?: string | null;
  address?: string | null;
}

export interface Contact {
  id: string;
  email: string | null;
  name: string | null;
  address: string | null;
  /** False when every field already held what was asked: nothing was written or audited. */
  changed: boolean;
}

const FIELDS = ['email', 'name', 'address'] as const;

/**
 * Corrects a user's email, name or postal address, the fields a licensor's detail file names a
 * subscriber by (a refused file names the users to fix here). Open to those who create users;
 * closed accounts too, since a past month's file may still need them. Nothing any decision
 * depends on changes, so no change notice is sent.
 */
export async function updateContact({
  ctx,
  input,
}: {
  ctx: VerbContext;
  input: UpdateContactInput;
}): Promise<VerbOutcome<Contact>> {
  authorize(ctx.actor, 'users.create');
  const row = await lockUser(ctx.tx, input.userId);
  const before: Partial<Record<(typeof FIELDS)[number], string | null>> = {};
  const after: Partial<Record<(typeof FIELDS)[number], string | null>> = {};
  for (const field of FIELDS) {
    const value = input[field];
    if (value === undefined || value === row[field]) continue;
    before[field] = row[field];
    after[field] = value;
  }
  const contact: Contact = {
    id: row.id,
    email: after.email === undefined ? row.email : after.email,
    name: after.name === undefined ? row.name : after.name,
    address: after.address === undefined ? row.address : after.address,
    changed: Object.keys(after).length > 0,
  };
  if (!contact.changed) return { value: contact, changed: NO_CHANGES };
  await ctx.tx.query('update users set email = $2, name = $3, address = $4 where id = $1', [
    row.id,
    contact.email,
    contact.name,
    contact.address,
  ]);
  await appendAudit(ctx.tx, {
    actor: ctx.actor,
    action: 'user.update',
    subject: userSubject(row.id),
    before,
    after,
    at: ctx.at,
  });
  return { value: contact, changed: NO_CHANGES };
}
