/**
 * The concurrent-session limit for REST (DESIGN rule 2). A REST request holds no session slot — a
 * snapshot taken before opening a socket must not keep that socket from real time — but it must
 * not get real time where a socket of the user would not. So it is counted as one more session of
 * the user, unless it comes from a device that already has a session here:
 *
 * - a session of the user on this edge runs without a slot (downgraded with `session_limit`):
 *   the request is over the limit as well;
 * - a session on this edge of the same device (the token's device id) holds a slot: the request
 *   is part of that session and adds none;
 * - otherwise the request counts as one session on top of the slots the user holds on every edge
 *   (the bus's session slots, as sockets count them). A user whose slots are all taken has had any
 *   further socket downgraded, wherever it is; and if the slots cannot be read, the request is
 *   over the limit, as a socket that cannot take a slot is.
 */
import type { SessionSlots } from '../platform/bus/index.js';

export interface RestSessionHolder {
  readonly deviceId: string | undefined;
  readonly slotHeld: boolean;
  readonly openSessions: number;
}

export interface RestSessionInput {
  slots: SessionSlots;
  userId: string;
  deviceId: string | undefined;
  limit: number;
  /** The user's open sessions on this edge. */
  local: Iterable<RestSessionHolder>;
}

/** The user's session count with the request, for `decide`; undefined when it adds none. */
export async function sessionsWithRequest(input: RestSessionInput): Promise<number | undefined> {
  const over = input.limit + 1;
  let sameDevice = false;
  for (const session of input.local) {
    if (!session.slotHeld) return Math.max(session.openSessions, over);
    if (input.deviceId !== undefined && session.deviceId === input.deviceId) sameDevice = true;
  }
  if (sameDevice) return undefined;
  try {
    return (await input.slots.count(input.userId)) + 1;
  } catch {
    return over;
  }
}
