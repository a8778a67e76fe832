import type { Tx } from './db/index.js';

export const OPERATOR_ROLES = ['admin', 'compliance', 'finance', 'support'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** Who did something: recorded on every audit record and checked by every verb. */
export type Actor =
  | { type: 'operator'; id: string; role: OperatorRole }
  | { type: 'user'; id: string }
  | { type: 'webhook'; id: string }
  | { type: 'system'; id: string };

/**
 * What every verb (`entitlements/grant.ts`, …) receives besides its input: the actor, the
 * transaction its change and its audit record are written in, and the instant it happens at.
 */
export interface VerbContext {
  actor: Actor;
  tx: Tx;
  /** Epoch ms; verbs take time from here, never from the clock, so tests can set it. */
  at: number;
}
