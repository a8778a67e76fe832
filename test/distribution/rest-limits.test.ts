/**
 * REST under the limits a socket has: the concurrent-session limit (DESIGN rule 2), counted with
 * the user's sockets on this edge and, through the bus's session slots, on every other edge; and
 * a request rate per token that is refused before anything is metered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../app/hub.js';
import type { UsageEvent } from '../../usage/index.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { Client, quote, readUsage, until } from './helpers.js';

const DELAY_MS = 600;
/** Two edges on one bus and one database, as in the scaled mode. */
let fx: DistributionFixture;
let edge: Hub;
let other: Hub;

interface Snapshot {
  status: number;
  retryAfter: string | null;
  body: Record<string, unknown>;
}

async function last(hub: Hub, token: string, sym = 'AAA'): Promise<Snapshot> {
  const res = await fetch(`http://127.0.0.1:${hub.port}/v1/last/quote/${sym}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    body: (await res.json()) as Record<string, unknown>,
  };
}

async function queryEvents(user: string): Promise<UsageEvent[]> {
  const seen = await readUsage(fx.bus, 'rest-limits-test');
  return seen.filter((event) => event.kind === 'query' && event.user === user);
}

beforeAll(async () => {
  fx = await distributionFixture({
    name: 'rest_limits',
    delayMs: DELAY_MS,
    options: { restRate: 1, restBurst: 5 },
    env: { MDHUB_EDGE_ID: 'rest-a' },
    // Old enough to be served delayed, so a downgraded answer is a 200 with the reason.
    lastValues: [quote('AAA', 1, Date.now() - DELAY_MS - 5_000)],
  });
  edge = fx.hub;
  other = await fx.edge({ env: { MDHUB_EDGE_ID: 'rest-b' } });
});

afterAll(() => fx?.close());

describe('REST and the concurrent-session limit', () => {
  it('answers delayed with session_limit to a user whose socket is downgraded by the limit', async () => {
    const user = await fx.user('rl-downgraded', { realtime: ['CTA_A'], sessionLimit: 1 });
    expect((await last(edge, user.token)).body).toMatchObject({ status: 'OK', mode: 'realtime' });
    const first = await Client.authenticated(edge.port, user.token);
    const second = await Client.authenticated(edge.port, user.token);
    expect((await second.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'delayed', reason: 'session_limit' });

    const answer = await last(edge, user.token);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'OK', mode: 'delayed', reason: 'session_limit' });
    expect(String(answer.body.message)).toContain('Too many sessions');

    second.close();
    await second.waitClosed();
    first.close();
    await first.waitClosed();
  });

  it('answers delayed with session_limit when the user’s sockets on another edge hold every slot', async () => {
    const user = await fx.user('rl-elsewhere', { realtime: ['CTA_A'], sessionLimit: 1 });
    const socket = await Client.authenticated(other.port, user.token);
    expect((await socket.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });

    expect((await last(edge, user.token)).body).toMatchObject({ mode: 'delayed', reason: 'session_limit' });

    socket.close();
    await socket.waitClosed();
  });

  it('gives real time to a request from the device whose socket holds the slot', async () => {
    const user = await fx.user('rl-device', {
      realtime: ['CTA_A'],
      sessionLimit: 1,
      deviceId: 'tablet-1',
    });
    const socket = await Client.authenticated(edge.port, user.token);
    expect((await socket.subscribe('Q.AAA'))[0]).toMatchObject({ mode: 'realtime' });

    expect((await last(edge, user.token)).body).toMatchObject({ status: 'OK', mode: 'realtime' });

    socket.close();
    await socket.waitClosed();
  });
});

describe('REST request rate per token', () => {
  it('answers 429 with Retry-After beyond the burst, and meters only the answered requests', async () => {
    const user = await fx.user('rl-burst', { realtime: ['CTA_A'] });
    const answers: Snapshot[] = [];
    for (let i = 0; i < 30; i++) answers.push(await last(edge, user.token));

    const served = answers.filter((answer) => answer.status === 200);
    const refused = answers.filter((answer) => answer.status === 429);
    expect(served.length + refused.length).toBe(answers.length);
    expect(refused.length).toBeGreaterThan(0);
    for (const answer of refused) {
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(answer.body).toEqual({
        error: {
          code: 'rate_limited',
          message: expect.stringContaining('retry in'),
          requestId: expect.any(String),
        },
      });
    }
    // Query events reach the bus through the edge's spool: gathered until the served ones are in.
    const metered: UsageEvent[] = [];
    await until(async () => {
      metered.push(...(await queryEvents(user.id)));
      return metered.length >= served.length;
    }, 'the query events');
    expect(metered.length).toBe(served.length);
    expect(metered.every((event) => event.kind === 'query' && event.mode === 'realtime')).toBe(true);
  });

  it('limits each token on its own', async () => {
    const calm = await fx.user('rl-calm', { realtime: ['CTA_A'] });
    expect((await last(edge, calm.token)).status).toBe(200);
  });
});
