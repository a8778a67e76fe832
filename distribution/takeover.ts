/**
 * Session takeover: a device that reconnects while its previous session still holds a slot gets
 * that slot at once if the previous session looks dead, instead of a 406 until the slot lapses
 * (Alpaca keeps such a slot for 90 s). Every socket is pinged each `pingIntervalMs` (session.ts):
 * one that has left a ping unanswered for `takeoverProbeMs` looks dead, and one that has not
 * answered by the next ping is terminated whether or not anything replaces it.
 *
 * When a session of a device-bound token authenticates, the same device's open sessions on this
 * edge are looked at before it takes a slot:
 * 1. those that look dead are replaced: told `session_replaced`, closed with 4000, their slot
 *    freed in the slot store (so other edges see it) — and only then does the new one take one;
 * 2. if it still finds the user at their limit, the device's other sessions are pinged now and
 *    given `takeoverProbeMs` to answer; those that do not are replaced as in 1, and the new session
 *    tries for the freed slot before it is told `auth_success`.
 * A session that answers is never replaced: a copy of the device's token (stolen, or a second app
 * instance) cannot push a live session out, so no one can be kicked out again and again; the
 * newcomer gets the usual session-limit treatment (delayed, real time once a slot frees).
 *
 * A replaced session is closed before its slot is released and the new one takes a slot after
 * the release, so real time never reaches more sessions than the limit, not even for a moment.
 * Tokens bound to no device are never taken over: nothing says two of their sessions are one device.
 * Only sessions on the same edge are taken over; one on another edge keeps its slot until its own
 * edge's keepalive terminates it (within twice `pingIntervalMs`), and the newcomer gets that slot
 * at the next renewal (a third of the slot ttl).
 */

/** What a takeover needs of an older session of the device. */
export interface TakeoverCandidate {
  /** A ping has gone unanswered for the probe window. */
  looksDead(): boolean;
  /** Pings (unless a ping is outstanding) and resolves whether a pong came within the probe window. */
  probe(): Promise<boolean>;
  /** Tells and closes the session; resolves once its slot is freed in the slot store. */
  replace(): Promise<void>;
}

/** Replaces the sessions that look dead now; resolves once their slots are freed. */
export async function replaceDead(candidates: readonly TakeoverCandidate[]): Promise<void> {
  await Promise.all(candidates.filter((c) => c.looksDead()).map((c) => c.replace()));
}

/** Probes every candidate at once and replaces those that do not answer; true if any was. */
export async function replaceUnanswering(candidates: readonly TakeoverCandidate[]): Promise<boolean> {
  const replaced = await Promise.all(
    candidates.map(async (candidate) => {
      if (await candidate.probe()) return false;
      await candidate.replace();
      return true;
    }),
  );
  return replaced.some(Boolean);
}
