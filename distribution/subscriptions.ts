/**
 * What a subscribe or unsubscribe message does to a connection's subscriptions, decided for every
 * channel before anything is looked up: invalid params and channels beyond the symbol limit are
 * refused (all of a kind in one reply, where the first of them was), and only the new symbols that
 * fit are looked up, together. The work per message is bounded by the channels one message may
 * list and the lookups by the symbol limit, whatever the client sends.
 */
import { type ChannelSpec, parseChannel, WILDCARD } from './channels.js';

/** Where the one reply for every invalid param goes, among the replies in the client's order. */
export const INVALID = 0;
/** Where the one reply for every channel beyond the symbol limit goes. */
export const OVER_LIMIT = 1;

export interface SubscribePlan {
  /** The channels the subscriptions take (already held ones included), in the client's order. */
  accepted: ChannelSpec[];
  /** The symbols new to the connection, to look up before replying (never `*`). */
  lookups: string[];
  /** The params that are not channels, each cut to 40 characters. */
  invalid: string[];
  /** The channels refused for the symbol limit. */
  overLimit: string[];
  /** One entry per reply: an accepted channel, or where the reply for the invalid or over-limit ones goes. */
  replies: Array<ChannelSpec | typeof INVALID | typeof OVER_LIMIT>;
}

/**
 * Plans a subscribe to `params` by a connection holding `current`, with at most `maxSymbols`
 * symbols (`T.X` and `Q.X` count once, a `*` as one).
 */
export function planSubscribe(
  current: ReadonlyMap<string, ChannelSpec>,
  params: readonly string[],
  maxSymbols: number,
): SubscribePlan {
  const symbols = new Set<string>();
  for (const spec of current.values()) symbols.add(spec.sym);
  const plan: SubscribePlan = { accepted: [], lookups: [], invalid: [], overLimit: [], replies: [] };
  for (const param of params) {
    const spec = parseChannel(param);
    if (spec === undefined) {
      if (plan.invalid.length === 0) plan.replies.push(INVALID);
      plan.invalid.push(param.slice(0, 40));
    } else if (current.has(param) || symbols.has(spec.sym) || symbols.size < maxSymbols) {
      if (!symbols.has(spec.sym) && spec.sym !== WILDCARD) plan.lookups.push(spec.sym);
      symbols.add(spec.sym);
      plan.accepted.push(spec);
      plan.replies.push(spec);
    } else {
      if (plan.overLimit.length === 0) plan.replies.push(OVER_LIMIT);
      plan.overLimit.push(param);
    }
  }
  return plan;
}

export interface UnsubscribePlan {
  /** The params that are not channels, each cut to 40 characters. */
  invalid: string[];
  /** One entry per reply: a channel to drop, or where the reply for the invalid ones goes. */
  replies: Array<string | typeof INVALID>;
}

export function planUnsubscribe(params: readonly string[]): UnsubscribePlan {
  const plan: UnsubscribePlan = { invalid: [], replies: [] };
  for (const param of params) {
    if (parseChannel(param) !== undefined) plan.replies.push(param);
    else {
      if (plan.invalid.length === 0) plan.replies.push(INVALID);
      plan.invalid.push(param.slice(0, 40));
    }
  }
  return plan;
}
