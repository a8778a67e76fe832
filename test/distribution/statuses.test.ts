/**
 * The words a client reads, asserted as the bytes it receives: the client protocol is a contract,
 * so each status is compared as its encoded frame, field order included.
 */
import { describe, expect, it } from 'vitest';
import { DELAYED, type ModeCode, NONE, REALTIME } from '../../distribution/products.js';
import { frame, type StatusMessage } from '../../distribution/protocol.js';
import {
  ALREADY_AUTHENTICATED,
  AUTH_FAILED,
  AUTH_RATE_LIMITED,
  invalidChannels,
  MESSAGES_ABUSED,
  modeChanged,
  modeReport,
  NOT_AUTHENTICATED,
  type ReportedProduct,
  SLOW_CLIENT,
  sessionLimit,
  subscribed,
  symbolLimit,
  TOKEN_REVOKED,
  tooManyChannels,
  tooManyMessages,
  unsubscribed,
} from '../../distribution/statuses.js';
import type { Reason } from '../../entitlements/index.js';

const PRODUCTS: readonly ReportedProduct[] = [
  { id: 'CTA_A', delayMs: 900_000 },
  { id: 'CTA_B', delayMs: 900_000 },
  { id: 'UTP', delayMs: 250 },
];
const ALL = [0, 1, 2];

/** A status as it is encoded inside a frame's array (`frame` is that array, stringified). */
const bytes = (status: StatusMessage) => frame([status]).slice(1, -1);

describe('a subscription’s mode in words', () => {
  it('is real time, with no reason', () => {
    const report = modeReport([0], [REALTIME, NONE, NONE], [[], [], []], PRODUCTS);
    expect(report).toEqual({ mode: 'realtime', fields: { mode: 'realtime' }, words: 'real time' });
    expect(bytes(subscribed('Q.AAPL', report))).toBe(
      '{"ev":"status","status":"success","message":"subscribed to: Q.AAPL","mode":"realtime"}',
    );
  });

  it('is delayed by the product’s delay, with every reason in words and the first as `reason`', () => {
    const reasons: Reason[][] = [['agreement_missing', 'no_grant'], [], []];
    const report = modeReport([0], [DELAYED, REALTIME, REALTIME], reasons, PRODUCTS);
    expect(bytes(subscribed('Q.IBM', report))).toBe(
      '{"ev":"status","status":"success","message":"subscribed to: Q.IBM (delayed by 15 minutes: ' +
        "The exchange's subscriber agreement for this product has not been accepted. " +
        'There is no real-time subscription to this product.)",' +
        '"mode":"delayed","reason":"agreement_missing","reasons":["agreement_missing","no_grant"]}',
    );
  });

  it('names the reasons once and the longest delay when the products it may carry share a mode', () => {
    const reasons: Reason[][] = [['no_grant'], ['no_grant', 'session_limit'], ['no_grant']];
    const report = modeReport(ALL, [DELAYED, DELAYED, DELAYED], reasons, PRODUCTS);
    expect(report).toEqual({
      mode: 'delayed',
      fields: { mode: 'delayed', reason: 'no_grant', reasons: ['no_grant', 'session_limit'] },
      words:
        'delayed by 15 minutes: There is no real-time subscription to this product. Too many sessions are open at once for this account.',
    });
    expect(modeReport([2], [DELAYED, DELAYED, DELAYED], reasons, PRODUCTS).words).toBe(
      'delayed by 250 ms: There is no real-time subscription to this product.',
    );
  });

  it('is refused with 409, the client staying subscribed', () => {
    const reasons: Reason[][] = [[], [], ['delayed_not_offered', 'no_grant']];
    const report = modeReport([2], [REALTIME, REALTIME, NONE], reasons, PRODUCTS);
    expect(bytes(subscribed('T.MSFT', report))).toBe(
      '{"ev":"status","status":"error","code":409,"message":"Not entitled to T.MSFT: refused: ' +
        'This product is not offered delayed. There is no real-time subscription to this product. ' +
        'You stay subscribed and get data once that changes.",' +
        '"params":"T.MSFT","mode":"refused","reason":"delayed_not_offered","reasons":["delayed_not_offered","no_grant"]}',
    );
  });

  it('is mixed, product by product, when the products a wildcard may carry differ', () => {
    const modes: ModeCode[] = [REALTIME, DELAYED, NONE];
    const reasons: Reason[][] = [[], ['no_grant'], ['delayed_not_offered']];
    const report = modeReport(ALL, modes, reasons, PRODUCTS);
    expect(report.mode).toBe('mixed');
    expect(bytes(subscribed('Q.*', report))).toBe(
      '{"ev":"status","status":"success","message":"subscribed to: Q.* (' +
        'CTA_A: real time; ' +
        'CTA_B: delayed by 15 minutes: There is no real-time subscription to this product.; ' +
        'UTP: refused: This product is not offered delayed.)",' +
        '"mode":"mixed","products":{' +
        '"CTA_A":{"mode":"realtime"},' +
        '"CTA_B":{"mode":"delayed","reason":"no_grant","reasons":["no_grant"]},' +
        '"UTP":{"mode":"refused","reason":"delayed_not_offered","reasons":["delayed_not_offered"]}}}',
    );
  });

  it('is announced live when it changes', () => {
    const report = modeReport([0], [DELAYED], [['grant_expired']], PRODUCTS);
    const at = Date.UTC(2026, 10, 2, 14, 30);
    expect(bytes(modeChanged('Q.GE', report, at))).toBe(
      '{"ev":"status","status":"mode","message":"Q.GE is now delayed by 15 minutes: ' +
        'The real-time subscription to this product has ended.",' +
        `"params":"Q.GE","mode":"delayed","reason":"grant_expired","reasons":["grant_expired"],"at":${at}}`,
    );
    expect(bytes(modeChanged('Q.GE', modeReport([0], [REALTIME], [[]], PRODUCTS), at))).toBe(
      `{"ev":"status","status":"mode","message":"Q.GE is now real time","params":"Q.GE","mode":"realtime","at":${at}}`,
    );
  });
});

describe('subscribe and unsubscribe statuses', () => {
  it('acknowledges an unsubscribe', () => {
    expect(bytes(unsubscribed('T.AAPL'))).toBe(
      '{"ev":"status","status":"success","message":"unsubscribed to: T.AAPL"}',
    );
  });

  it('refuses params that are not channels in one status, with the syntax', () => {
    const syntax = 'write TYPE.SYMBOL, such as T.AAPL, Q.MSFT or Q.* (types T, Q, A, AM).';
    expect(bytes(invalidChannels(['X.AAPL']))).toBe(
      `{"ev":"status","status":"error","code":400,"message":"X.AAPL is not a channel: ${syntax}","params":"X.AAPL"}`,
    );
    expect(bytes(invalidChannels(['X.AAPL', 'nope', 'Q.']))).toBe(
      `{"ev":"status","status":"error","code":400,"message":"3 params are not channels (X.AAPL, …): ${syntax}","params":"X.AAPL,nope,Q.","count":3}`,
    );
  });

  it('refuses channels beyond the symbol limit with 405, in one status', () => {
    const rest =
      'this connection already has 3 symbols, the most allowed (a * counts as one). Unsubscribe from some first.';
    expect(bytes(symbolLimit(['Q.CCC'], 3))).toBe(
      `{"ev":"status","status":"error","code":405,"message":"Not subscribed to Q.CCC: ${rest}","params":"Q.CCC"}`,
    );
    expect(bytes(symbolLimit(['Q.CCC', 'T.DDD'], 3))).toBe(
      `{"ev":"status","status":"error","code":405,"message":"Not subscribed to 2 channels (Q.CCC, …): ${rest}","params":"Q.CCC,T.DDD","count":2}`,
    );
  });

  it('refuses a message listing too many channels, doing nothing', () => {
    expect(bytes(tooManyChannels('subscribe', 8_000, 1_000))).toBe(
      '{"ev":"status","status":"error","code":400,"message":"This subscribe lists 8000 channels, more than the 1000 one message may list; nothing was done. Send them in several messages.","count":8000}',
    );
  });
});

describe('session and connection statuses', () => {
  it('tells a session past the user’s limit (406) that it gets delayed data, counting sessions in words', () => {
    const rest =
      'open, its limit: this connection gets delayed data only, and real time once another session closes.';
    expect(bytes(sessionLimit(1))).toBe(
      `{"ev":"status","status":"error","code":406,"message":"This account already has 1 session ${rest}"}`,
    );
    expect(bytes(sessionLimit(2))).toBe(
      `{"ev":"status","status":"error","code":406,"message":"This account already has 2 sessions ${rest}"}`,
    );
  });

  it('names the message rate when a message is ignored, and says when the connection is closed for it', () => {
    expect(bytes(tooManyMessages(10, 20))).toBe(
      '{"ev":"status","status":"error","code":429,"message":"Too many messages: at most 10 a second (bursts of 20); this one was ignored."}',
    );
    expect(bytes(MESSAGES_ABUSED)).toBe(
      '{"ev":"status","status":"error","code":429,"message":"Too many messages; the connection is closed."}',
    );
  });

  it('answers authentication as Polygon does, with the edge’s own refusals in words', () => {
    expect(bytes(AUTH_FAILED)).toBe(
      '{"ev":"status","status":"auth_failed","message":"authentication failed"}',
    );
    expect(bytes(AUTH_RATE_LIMITED)).toBe(
      '{"ev":"status","status":"auth_failed","message":"Too many failed authentication attempts from your address with this token; wait a minute and retry."}',
    );
    expect(bytes(NOT_AUTHENTICATED)).toBe(
      '{"ev":"status","status":"error","code":401,"message":"Not authenticated: send {\\"action\\":\\"auth\\",\\"params\\":\\"<your API token>\\"} first."}',
    );
    expect(bytes(ALREADY_AUTHENTICATED)).toBe(
      '{"ev":"status","status":"error","code":403,"message":"This connection is already authenticated."}',
    );
    expect(bytes(TOKEN_REVOKED)).toBe(
      '{"ev":"status","status":"error","code":401,"message":"Your API token was revoked; connect again with a valid one."}',
    );
  });

  it('tells a slow client why it is closed (407)', () => {
    expect(SLOW_CLIENT).toBe(
      '[{"ev":"status","status":"error","code":407,"message":"Your connection did not read data fast enough and is closed. Subscribe to fewer symbols or read faster."}]',
    );
  });
});
