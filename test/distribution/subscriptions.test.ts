import { describe, expect, it } from 'vitest';
import { type ChannelSpec, parseChannel } from '../../distribution/channels.js';
import { INVALID, OVER_LIMIT, planSubscribe, planUnsubscribe } from '../../distribution/subscriptions.js';

const held = (...params: string[]): ReadonlyMap<string, ChannelSpec> =>
  new Map(params.map((param) => [param, parseChannel(param) as ChannelSpec]));

/** The replies in order, a channel by its param. */
function shown(plan: { replies: ReadonlyArray<ChannelSpec | string | number> }): string[] {
  return plan.replies.map((entry) => {
    if (entry === INVALID) return 'INVALID';
    if (entry === OVER_LIMIT) return 'OVER_LIMIT';
    return typeof entry === 'object' ? entry.param : String(entry);
  });
}

describe('a subscribe, planned before any lookup', () => {
  it('counts T.X and Q.X as one symbol and * as one, refusing the rest in one reply where the first was', () => {
    const plan = planSubscribe(held(), ['Q.AAA', 'T.AAA', 'Q.BBB', 'Q.*', 'Q.CCC', 'T.BBB', 'T.DDD'], 3);
    expect(shown(plan)).toEqual(['Q.AAA', 'T.AAA', 'Q.BBB', 'Q.*', 'OVER_LIMIT', 'T.BBB']);
    expect(plan.overLimit).toEqual(['Q.CCC', 'T.DDD']);
    expect(plan.accepted.map((spec) => spec.param)).toEqual(['Q.AAA', 'T.AAA', 'Q.BBB', 'Q.*', 'T.BBB']);
  });

  it('looks up only symbols new to the connection, once each, and never *', () => {
    const plan = planSubscribe(held('Q.AAA'), ['T.AAA', 'Q.BBB', 'T.BBB', 'T.*'], 10);
    expect(plan.lookups).toEqual(['BBB']);
  });

  it('takes a channel it already holds, or one on a symbol it holds, even at the limit', () => {
    const plan = planSubscribe(held('Q.AAA', 'Q.BBB'), ['Q.AAA', 'T.BBB', 'Q.CCC'], 2);
    expect(shown(plan)).toEqual(['Q.AAA', 'T.BBB', 'OVER_LIMIT']);
    expect(plan.lookups).toEqual([]);
  });

  it('refuses every invalid param in one reply, each cut to 40 characters', () => {
    const long = `Q.${'A'.repeat(60)}`;
    const plan = planSubscribe(held(), ['X.AAA', 'Q.AAA', long, 'nope'], 10);
    expect(shown(plan)).toEqual(['INVALID', 'Q.AAA']);
    expect(plan.invalid).toEqual(['X.AAA', long.slice(0, 40), 'nope']);
  });
});

describe('an unsubscribe, planned', () => {
  it('drops each channel in order and refuses every invalid param in one reply where the first was', () => {
    const plan = planUnsubscribe(['Q.AAA', 'bad', 'T.*', 'X.Y']);
    expect(shown(plan)).toEqual(['Q.AAA', 'INVALID', 'T.*']);
    expect(plan.invalid).toEqual(['bad', 'X.Y']);
  });
});
