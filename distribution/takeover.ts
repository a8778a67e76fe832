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
 * 2. if it still finds the user at their limit, the device's other sessions here are pinged now
 *    and given `takeoverProbeMs` to answer; those that do not are replaced as in 1, and the new
 *    session tries for the freed slot before it is told `auth_success`;
 * 3. if the device has no session here and the user is at their limit, the other edges are asked
 *    to do step 2 with the device's sessions they hold (`RemoteTakeover`, over the bus's control
 *    channel); the newcomer waits for one to say it replaced one, at most the probe window and a
 *    margin, and tries for a slot again.
 * A session that answers is never replaced: a copy of the device's token (stolen, or a second app
 * instance) cannot push a live session out, so no one can be kicked out again and again; the
 * newcomer gets the usual session-limit treatment (delayed, real time once a slot frees).
 *
 * A replaced session is closed before its slot is released and the new one takes a slot after
 * the release, so real time never reaches more sessions than the limit, not even for a moment.
 * Tokens bound to no device are never taken over: nothing says two of their sessions are one device.
 */
import { randomUUID } from 'node:crypto';
import type { ControlChannel, ControlMessage, Subscription } from '../platform/bus/index.js';
import type { Logger } from '../platform/logger.js';

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

/** Asks the edges for sessions of a device (`id` names the request, `edgeId` the asking edge). */
const REQUEST = 'session_takeover';
/** An edge replaced at least one session of request `id`, and freed its slot. */
const REPLACED = 'session_takeover_replaced';

export interface RemoteTakeoverOptions {
  control: ControlChannel;
  edgeId: string;
  /** This edge's open sessions of the user's device. */
  candidates(userId: string, deviceId: string): readonly TakeoverCandidate[];
  /** How long a request waits for an edge to say it replaced one: the probe window and the bus's way there and back. */
  waitMs: number;
  logger: Logger;
}

/**
 * The takeover across edges, over the bus's control channel: an edge whose newcomer is still at
 * the limit after the local steps asks every edge; each replaces the device's sessions it holds
 * that do not answer a probe (as in step 2), and says so once their slots are freed. The asking
 * edge waits for that, at most `waitMs`, then tries for a slot once more.
 */
export class RemoteTakeover {
  readonly #options: RemoteTakeoverOptions;
  readonly #waiting = new Map<string, () => void>();
  #subscription: Subscription | undefined;

  constructor(options: RemoteTakeoverOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#subscription ??= await this.#options.control.subscribe((message) => this.#onMessage(message));
  }

  async stop(): Promise<void> {
    for (const done of [...this.#waiting.values()]) done();
    await this.#subscription?.close();
    this.#subscription = undefined;
  }

  /** Resolves once another edge replaced a session of the device, or after `waitMs`. */
  request(userId: string, deviceId: string): Promise<void> {
    const { control, edgeId, waitMs, logger } = this.#options;
    if (this.#subscription === undefined) return Promise.resolve();
    const id = randomUUID();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.#waiting.set(id, done);
      control.publish({ type: REQUEST, id, edgeId, userId, deviceId }).catch((err: unknown) => {
        logger.warn({ err }, 'could not ask the other edges for a session takeover');
        done();
      });
    });
  }

  #onMessage(message: ControlMessage): void {
    if (message.type === REPLACED && typeof message.id === 'string') {
      this.#waiting.get(message.id)?.();
      return;
    }
    const { id, edgeId, userId, deviceId } = message;
    if (message.type !== REQUEST || edgeId === this.#options.edgeId) return;
    if (typeof id !== 'string' || typeof userId !== 'string' || typeof deviceId !== 'string') return;
    const candidates = this.#options.candidates(userId, deviceId);
    if (candidates.length === 0) return;
    void replaceUnanswering(candidates)
      .then((replaced) => (replaced ? this.#options.control.publish({ type: REPLACED, id }) : undefined))
      .catch((err: unknown) =>
        this.#options.logger.warn({ err }, 'a session takeover for another edge failed'),
      );
  }
}
