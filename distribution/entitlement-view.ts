/**
 * What the edge needs from the entitlements module: token checks, decisions and change
 * notifications, all answered from memory. `EntitlementCache` satisfies it as it is; keeping the
 * edge to this small surface keeps the two modules free to change apart.
 */
import type { Decision, TokenUsage, UserSnapshot } from '../entitlements/index.js';

export interface Principal {
  userId: string;
  deviceId?: string;
  /** What the token was issued for; absent means a person's display. */
  usage?: TokenUsage;
}

export interface EntitlementView {
  /** The user behind a user token, or undefined for an unknown or revoked one. */
  authenticate(token: string): Principal | undefined;
  /** The decision for a user and product at `at`, `sessions` being the user's open sessions. */
  decide(userId: string, productId: string, at: number, sessions?: number): Decision;
  /** The user's snapshot: the session limit and the instants at which decisions change. */
  snapshot(userId: string): UserSnapshot | undefined;
  /**
   * The instant from which the user's decisions are no longer real time unless the view learns
   * more first (a change it knows of but has not applied); `+Infinity` when there is none.
   */
  verifiedUntil(userId: string): number;
  /** Called with a user id whenever that user's decisions may have changed; returns an unsubscribe. */
  onChange(listener: (userId: string) => void): () => void;
}
