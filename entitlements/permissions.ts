import type { Actor, OperatorRole } from '../platform/actor.js';
import { ForbiddenError } from './errors.js';

/**
 * Who may do what, in one table. Operators are matched by role; the hub itself (`system`) and
 * signed webhooks by actor type. Least privilege: compliance and finance read; compliance also
 * records attestations and agreements (it verifies professional status and collects the exchange
 * agreements); support onboards users and manages their tokens but never changes what a user is
 * entitled to; only admin grants, changes account status and manages operators. A correction (an
 * effect date in the past: an attestation recorded late, a grant or revocation backdated) needs
 * `corrections.record` on top of the change's own permission, so it stays with admin and
 * compliance, and compliance still backdates no grant, since it may not grant at all.
 */
export const PERMISSIONS = {
  'users.read': ['admin', 'compliance', 'finance', 'support'],
  'users.create': ['admin', 'support'],
  'attestations.record': ['admin', 'compliance'],
  'agreements.record': ['admin', 'compliance'],
  'corrections.record': ['admin', 'compliance'],
  'grants.change': ['admin'],
  'tokens.manage': ['admin', 'support'],
  'status.change': ['admin'],
  'delinquency.set': ['admin', 'system', 'webhook'],
  'operators.manage': ['admin', 'system'],
  'reports.read': ['admin', 'compliance', 'finance'],
  // Filing a month with the exchanges, and amending a filing, is compliance's; finance only reads.
  'reports.file': ['admin', 'compliance', 'system'],
  // An auditor's evidence pack holds every counted user's entitlement history: compliance's too.
  'reports.pack': ['admin', 'compliance', 'system'],
  'audit.read': ['admin', 'compliance', 'finance'],
  'audit.checkpoint': ['admin', 'compliance'],
} as const satisfies Record<string, ReadonlyArray<OperatorRole | 'system' | 'webhook'>>;

export type Permission = keyof typeof PERMISSIONS;

export function can(actor: Actor, permission: Permission): boolean {
  const allowed: ReadonlyArray<string> = PERMISSIONS[permission];
  if (actor.type === 'operator') return allowed.includes(actor.role);
  return allowed.includes(actor.type);
}

export function authorize(actor: Actor, permission: Permission): void {
  if (!can(actor, permission)) {
    throw new ForbiddenError('forbidden', `${describe(actor)} may not ${permission.replace('.', ': ')}`);
  }
}

/** The operator roles a permission is open to, for route guards. */
export function rolesFor(permission: Permission): OperatorRole[] {
  const allowed: ReadonlyArray<string> = PERMISSIONS[permission];
  return (['admin', 'compliance', 'finance', 'support'] as const).filter((role) => allowed.includes(role));
}

function describe(actor: Actor): string {
  return actor.type === 'operator' ? `role ${actor.role}` : `actor type ${actor.type}`;
}
