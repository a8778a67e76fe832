import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createOperator,
  ensureAdminOperator,
  entitlementRoutes,
  operatorAuth,
  REASON_TEXT,
} from '../../entitlements/index.js';
import type { OperatorRole } from '../../platform/actor.js';
import { type Bus, type ControlMessage, openBus } from '../../platform/bus/index.js';
import { HealthChecks } from '../../platform/health.js';
import { type App, createApp } from '../../platform/http/app.js';
import { ClientAddresses } from '../../platform/http/client-address.js';
import { silentLogger } from '../../platform/logger.js';
import { createMetricsRegistry } from '../../platform/metrics.js';
import { forEachDb } from '../helpers/db.js';
import { auditOf, run } from './db-helpers.js';
import { ADMIN, DAY, HOUR, T0, testCatalog } from './fixtures.js';

const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
const HOSTILE = "'; DROP TABLE users;--";

/** The parts of response bodies the assertions read; everything else is compared whole. */
interface Body {
  error?: { code: string; message: string; requestId: string };
  id?: string;
  token?: string;
  grant?: { id: number };
  superseded?: unknown[];
  grants?: unknown[];
  tokens?: unknown[];
  users?: Array<{ id: string; decisions: Record<string, { words: string[] }> }>;
  next?: string | null;
  decisions?: Record<string, { mode: string; reasons: string[] }>;
}

interface Call {
  token?: string | null;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

forEachDb((_engine, getDb) => {
  let app: App;
  let bus: Bus;
  let clock = T0;
  const tokens = {} as Record<OperatorRole | 'revoked', string>;
  const messages: ControlMessage[] = [];

  beforeAll(async () => {
    const db = getDb();
    bus = await openBus();
    await bus.control.subscribe((message) => messages.push(message));
    await ensureAdminOperator({ db, token: ADMIN_TOKEN, at: T0 - DAY });
    tokens.admin = ADMIN_TOKEN;
    for (const role of ['compliance', 'finance', 'support'] as const) {
      const made = await run(db, ADMIN, T0 - DAY, (ctx) =>
        createOperator({ ctx, input: { id: `op-${role}`, role } }),
      );
      tokens[role] = made.token;
    }
    const gone = await run(db, ADMIN, T0 - DAY, (ctx) =>
      createOperator({ ctx, input: { id: 'op-gone', role: 'admin' } }),
    );
    tokens.revoked = gone.token;
    await db.query("update operators set revoked_at = $1 where id = 'op-gone'", [T0 - HOUR]);

    app = createApp({ logger: silentLogger, metrics: createMetricsRegistry(), health: new HealthChecks() });
    // Every request here comes from one (unknown) address and the 401 sweeps fail on purpose; the
    // limit itself is tested on an app of its own.
    app.use('/admin/*', operatorAuth(db, { limiter: { maxFailures: 100_000 } }));
    app.route(
      '/admin',
      entitlementRoutes({ db, bus, catalog: testCatalog(), defaultSessionLimit: 2, now: () => clock }),
    );
  });

  afterAll(async () => {
    await bus.close();
  });

  beforeEach(() => {
    clock = T0;
    messages.length = 0;
  });

  async function call(method: string, path: string, options: Call = {}) {
    const token = options.token === undefined ? ADMIN_TOKEN : options.token;
    const headers: Record<string, string> = { ...options.headers };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = options.raw;
    if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Body) : undefined };
  }

  const settle = () => new Promise((resolve) => setImmediate(resolve));
  const user = (id: string) => `/admin/users/${encodeURIComponent(id)}`;

  async function createUser(id: string, extra: Record<string, unknown> = {}) {
    const res = await call('POST', '/admin/users', { body: { id, ...extra } });
    expect(res.status).toBe(201);
  }

  describe('happy path', () => {
    it('takes a user from sign-up to real time, and shows why at each step', async () => {
      await createUser('alice', { email: 'alice@example.com', name: 'Alice' });
      let detail = await call('GET', user('alice'));
      expect(detail.status).toBe(200);
      expect(detail.body).toMatchObject({
        id: 'alice',
        status: 'active',
        category: 'professional',
        sessionLimit: 2,
        decisions: {
          CTA_A: {
            mode: 'delayed',
            reasons: ['no_grant', 'agreement_missing'],
            words: [REASON_TEXT.no_grant, REASON_TEXT.agreement_missing],
          },
          UTP: { mode: 'refused', reasons: ['no_grant', 'agreement_missing', 'delayed_not_offered'] },
        },
      });

      const agreement = await call('POST', `${user('alice')}/agreements`, { body: { product: 'CTA_A' } });
      expect(agreement).toMatchObject({
        status: 201,
        body: { licensor: 'CTA', version: '2024-01', created: true },
      });
      const again = await call('POST', `${user('alice')}/agreements`, { body: { product: 'CTA_B' } });
      expect(again).toMatchObject({ status: 200, body: { created: false } });

      const granted = await call('PUT', `${user('alice')}/entitlements/CTA_A`, {
        body: { realtime: true, validTo: '2026-10-04T14:00:00Z' },
      });
      expect(granted.status).toBe(200);
      expect(granted.body?.grant).toMatchObject({
        product: 'CTA_A',
        validFrom: T0,
        validTo: T0 + DAY,
        createdBy: 'operator:admin',
      });

      const attested = await call('POST', `${user('alice')}/attestations`, {
        body: { status: 'non_professional', answers: { sec: false } },
      });
      expect(attested).toMatchObject({ status: 201, body: { status: 'non_professional', at: T0 } });

      detail = await call('GET', user('alice'));
      expect(detail.body).toMatchObject({
        category: 'non_professional',
        decisions: {
          CTA_A: { mode: 'realtime', reasons: [], words: [] },
          CTA_B: { mode: 'delayed', reasons: ['no_grant'] },
        },
        agreements: [{ licensor: 'CTA', version: '2024-01', acceptedAt: T0 }],
        attestations: [{ status: 'non_professional', answers: { sec: false }, at: T0 }],
      });
      expect(detail.body?.grants).toHaveLength(1);

      clock = T0 + DAY;
      detail = await call('GET', user('alice'));
      expect(detail.body?.decisions?.CTA_A).toMatchObject({ mode: 'delayed', reasons: ['grant_expired'] });
    });

    it('publishes entitlements.changed after each change, and nothing for a no-op or a failure', async () => {
      await createUser('feed');
      await call('PUT', `${user('feed')}/entitlements/CTA_B`, { body: { realtime: true } });
      await call('DELETE', `${user('feed')}/entitlements/CTA_B`);
      await call('DELETE', `${user('feed')}/entitlements/CTA_B`);
      await call('POST', '/admin/users', { body: { id: 'feed' } });
      await settle();
      const feed = {
        type: 'entitlements.changed',
        userId: 'feed',
        seq: expect.any(Number),
        at: expect.any(Number),
      };
      expect(messages).toEqual([feed, feed, feed]);
      const seqs = messages.map((message) => message.seq as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    });

    it('supersedes a grant with a new PUT and revokes with DELETE, keeping history', async () => {
      await createUser('bob');
      const first = await call('PUT', `${user('bob')}/entitlements/CTA_B`, { body: { realtime: true } });
      clock = T0 + HOUR;
      const second = await call('PUT', `${user('bob')}/entitlements/CTA_B`, {
        body: { realtime: true, validFrom: T0 + 2 * HOUR, validTo: T0 + 3 * HOUR },
      });
      expect(second.body?.superseded).toMatchObject([{ id: first.body?.grant?.id, revokedAt: T0 + HOUR }]);
      const revoked = await call('DELETE', `${user('bob')}/entitlements/CTA_B`);
      expect(revoked).toMatchObject({
        status: 200,
        body: { revoked: [{ id: second.body?.grant?.id, revokedAt: T0 + HOUR }] },
      });
      const nothing = await call('DELETE', `${user('bob')}/entitlements/CTA_B`);
      expect(nothing).toEqual({ status: 200, body: { revoked: [] } });
      const detail = await call('GET', user('bob'));
      expect(detail.body?.grants).toHaveLength(2);
      const audit = await auditOf(getDb(), 'user:bob');
      expect(audit.map((record) => record.action)).toEqual([
        'user.create',
        'grant.create',
        'grant.create',
        'grant.revoke',
      ]);
    });

    it('issues a token once, lists it without the secret, and revokes it', async () => {
      await createUser('carol');
      const issued = await call('POST', `${user('carol')}/tokens`, {
        token: tokens.support,
        body: { deviceId: 'phone-1' },
      });
      expect(issued).toMatchObject({ status: 201, body: { deviceId: 'phone-1' } });
      expect(issued.body?.token).toMatch(/^mdu_/);
      const bare = await call('POST', `${user('carol')}/tokens`, { token: tokens.support });
      expect(bare).toMatchObject({ status: 201, body: { deviceId: null } });
      const detail = await call('GET', user('carol'), { token: tokens.support });
      expect(detail.body?.tokens).toEqual(
        [
          { id: issued.body?.id, deviceId: 'phone-1', usage: 'display', createdAt: T0, revokedAt: null },
          { id: bare.body?.id, deviceId: null, usage: 'display', createdAt: T0, revokedAt: null },
        ].sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1)),
      );
      expect(JSON.stringify(detail.body)).not.toContain(issued.body?.token);
      const revoked = await call('DELETE', `${user('carol')}/tokens/${issued.body?.id}`, {
        token: tokens.support,
      });
      expect(revoked).toEqual({ status: 200, body: { revoked: true } });
      const unknown = await call('DELETE', `${user('carol')}/tokens/tok_nope`, { token: tokens.support });
      expect(unknown).toMatchObject({ status: 404, body: { error: { code: 'unknown_token' } } });
    });

    it('keeps a name and postal address, and corrects them with PATCH, each change audited', async () => {
      const created = await call('POST', '/admin/users', {
        token: tokens.support,
        body: { id: 'addr-1', name: 'Ann Lee', address: '1 Main St, Springfield IL 62701, US' },
      });
      expect(created).toMatchObject({
        status: 201,
        body: { name: 'Ann Lee', address: '1 Main St, Springfield IL 62701, US' },
      });
      const patched = await call('PATCH', user('addr-1'), {
        token: tokens.support,
        body: { address: '2 Elm St, Springfield IL 62702, US', email: null },
      });
      expect(patched).toEqual({
        status: 200,
        body: {
          id: 'addr-1',
          email: null,
          name: 'Ann Lee',
          address: '2 Elm St, Springfield IL 62702, US',
          changed: true,
        },
      });
      const again = await call('PATCH', user('addr-1'), { body: { name: 'Ann Lee' } });
      expect(again.body).toMatchObject({ changed: false });
      expect((await call('GET', user('addr-1'))).body).toMatchObject({
        address: '2 Elm St, Springfield IL 62702, US',
      });
      const audit = await auditOf(getDb(), 'user:addr-1');
      expect(audit.map((r) => r.action)).toEqual(['user.create', 'user.update']);
      expect(audit[1]).toMatchObject({
        actor_id: 'op-support',
        before: { address: '1 Main St, Springfield IL 62701, US' },
        after: { address: '2 Elm St, Springfield IL 62702, US' },
      });
      expect((await call('PATCH', user('addr-nobody'), { body: { name: 'x' } })).status).toBe(404);
      expect((await call('PATCH', user('addr-1'), { body: {} })).status).toBe(400);
    });

    it('issues a token for an application (non-display) and lists what each token is for', async () => {
      await createUser('robot');
      const issued = await call('POST', `${user('robot')}/tokens`, { body: { usage: 'non_display' } });
      expect(issued).toMatchObject({ status: 201, body: { usage: 'non_display', deviceId: null } });
      const person = await call('POST', `${user('robot')}/tokens`, { body: {} });
      expect(person).toMatchObject({ status: 201, body: { usage: 'display' } });
      const detail = await call('GET', user('robot'));
      const listed = (detail.body?.tokens ?? []) as Array<{ id: string; usage: string }>;
      expect(Object.fromEntries(listed.map((t) => [t.id, t.usage]))).toEqual({
        [String(issued.body?.id)]: 'non_display',
        [String(person.body?.id)]: 'display',
      });
      const audit = await auditOf(getDb(), 'user:robot');
      expect(audit.filter((r) => r.action === 'token.issue').map((r) => r.after)).toEqual([
        { tokenId: issued.body?.id, deviceId: null, usage: 'non_display' },
        { tokenId: person.body?.id, deviceId: null, usage: 'display' },
      ]);
      const bad = await call('POST', `${user('robot')}/tokens`, { body: { usage: 'robotic' } });
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    });

    it('suspends, reactivates and closes an account', async () => {
      await createUser('dave');
      const suspended = await call('POST', `${user('dave')}/status`, {
        body: { status: 'suspended', reason: 'fraud check' },
      });
      expect(suspended).toEqual({
        status: 200,
        body: { status: 'suspended', changed: true, endedGrants: 0 },
      });
      const detail = await call('GET', user('dave'));
      expect(detail.body?.decisions?.CTA_A?.reasons).toContain('suspended');
      await call('POST', `${user('dave')}/status`, { body: { status: 'closed', reason: 'asked to close' } });
      const reopen = await call('POST', `${user('dave')}/status`, {
        body: { status: 'active', reason: 'oops' },
      });
      expect(reopen).toMatchObject({ status: 409, body: { error: { code: 'account_closed' } } });
      const grant = await call('PUT', `${user('dave')}/entitlements/CTA_A`, { body: { realtime: true } });
      expect(grant.status).toBe(409);
    });

    it('lists and searches users page by page, each with decisions in words', async () => {
      for (const id of ['list-1', 'list-2', 'list-3']) await createUser(id, { name: `Listed ${id}` });
      await createUser('other-100%', { email: 'x_y@example.com' });
      const first = await call('GET', '/admin/users?q=listed&limit=2', { token: tokens.support });
      expect(first.status).toBe(200);
      expect(first.body?.users?.map((u) => u.id)).toEqual(['list-1', 'list-2']);
      expect(first.body?.users?.[0]?.decisions.CTA_A?.words).toEqual([
        REASON_TEXT.no_grant,
        REASON_TEXT.agreement_missing,
      ]);
      expect(first.body?.next).toBe('list-2');
      const second = await call('GET', `/admin/users?q=LISTED&limit=2&after=${first.body?.next}`, {
        token: tokens.support,
      });
      expect(second.body).toMatchObject({ users: [{ id: 'list-3' }], next: null });
      const literal = await call('GET', `/admin/users?q=${encodeURIComponent('100%')}`);
      expect(literal.body?.users?.map((u) => u.id)).toEqual(['other-100%']);
      const underscore = await call('GET', `/admin/users?q=${encodeURIComponent('x_y')}`);
      expect(underscore.body?.users?.map((u) => u.id)).toEqual(['other-100%']);
      const bad = await call('GET', '/admin/users?limit=0');
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    });

    it('lets an admin create and revoke operators whose tokens then work and stop working', async () => {
      const made = await call('POST', '/admin/operators', { body: { id: 'new-support', role: 'support' } });
      expect(made).toMatchObject({ status: 201, body: { id: 'new-support', role: 'support' } });
      expect((await call('GET', '/admin/users?limit=1', { token: made.body?.token })).status).toBe(200);
      const dup = await call('POST', '/admin/operators', { body: { id: 'new-support', role: 'admin' } });
      expect(dup).toMatchObject({ status: 409, body: { error: { code: 'operator_exists' } } });
      expect(await call('DELETE', '/admin/operators/new-support')).toEqual({
        status: 200,
        body: { revoked: true },
      });
      expect((await call('GET', '/admin/users?limit=1', { token: made.body?.token })).status).toBe(401);
      expect((await call('DELETE', '/admin/operators/nobody')).status).toBe(404);
    });
  });

  describe('corrections', () => {
    const late = new Date(T0 - 2 * DAY).toISOString();

    it('records a late attestation with its effect date and reason, for admin and compliance', async () => {
      clock = T0 - 3 * DAY;
      await createUser('corr-a');
      clock = T0 + HOUR;
      const made = await call('POST', `${user('corr-a')}/attestations`, {
        token: tokens.compliance,
        body: { status: 'non_professional', effectiveFrom: late, reason: 'form dated two days ago' },
      });
      expect(made).toMatchObject({ status: 201, body: { at: T0 + HOUR, effectiveFrom: T0 - 2 * DAY } });
      const detail = await call('GET', user('corr-a'));
      expect(detail.body).toMatchObject({
        category: 'non_professional',
        attestations: [{ at: T0 + HOUR, effectiveFrom: T0 - 2 * DAY, status: 'non_professional' }],
      });
      await settle();
      expect(messages).toEqual([
        { type: 'entitlements.changed', userId: 'corr-a', seq: expect.any(Number), at: expect.any(Number) },
        { type: 'entitlements.changed', userId: 'corr-a', seq: expect.any(Number), at: expect.any(Number) },
      ]);
      const [record] = (await auditOf(getDb(), 'user:corr-a')).filter(
        (r) => r.action === 'attestation.record',
      );
      expect(record).toMatchObject({
        actor_id: 'op-compliance',
        details: { reason: 'form dated two days ago', effectiveFrom: T0 - 2 * DAY },
      });
    });

    it('refuses a late attestation without a reason, before the user existed, in the future, or from finance and support', async () => {
      await createUser('corr-b');
      const attest = (body: unknown, token = ADMIN_TOKEN) =>
        call('POST', `${user('corr-b')}/attestations`, { token, body });
      expect(await attest({ status: 'non_professional', effectiveFrom: late })).toMatchObject({
        status: 400,
        body: { error: { code: 'reason_required' } },
      });
      expect(
        await attest({ status: 'non_professional', effectiveFrom: T0 - 1, reason: 'before the user' }),
      ).toMatchObject({ status: 400, body: { error: { code: 'effective_date_before_user' } } });
      expect(
        await attest({ status: 'non_professional', effectiveFrom: T0 + DAY, reason: 'tomorrow' }),
      ).toMatchObject({ status: 400, body: { error: { code: 'effective_date_in_future' } } });
      expect(await attest({ status: 'non_professional', effectiveFrom: late, reason: '' })).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_request' } },
      });
      for (const role of ['finance', 'support'] as const) {
        const res = await attest(
          { status: 'non_professional', effectiveFrom: T0, reason: 'x' },
          tokens[role],
        );
        expect(res.status, role).toBe(403);
      }
      expect((await call('GET', user('corr-b'))).body).toMatchObject({ attestations: [] });
    });

    it('backdates a grant with a reason; compliance may not', async () => {
      clock = T0 - 3 * DAY;
      await createUser('corr-c');
      clock = T0;
      const body = { realtime: true, validFrom: late, reason: 'signed up by phone' };
      const refused = await call('PUT', `${user('corr-c')}/entitlements/CTA_A`, {
        token: tokens.compliance,
        body,
      });
      expect(refused.status).toBe(403);
      const made = await call('PUT', `${user('corr-c')}/entitlements/CTA_A`, { body });
      expect(made).toMatchObject({
        status: 200,
        body: { grant: { validFrom: T0 - 2 * DAY, createdAt: T0 } },
      });
    });

    it('backdates a revocation given as query parameters, and keeps the plain DELETE as it was', async () => {
      clock = T0 - 3 * DAY;
      await createUser('corr-d');
      await call('PUT', `${user('corr-d')}/entitlements/CTA_A`, { body: { realtime: true } });
      await call('PUT', `${user('corr-d')}/entitlements/CTA_B`, { body: { realtime: true } });
      clock = T0;
      const path = `${user('corr-d')}/entitlements/CTA_A`;
      const query = (effectiveAt: string, reason?: string) =>
        `${path}?effectiveAt=${encodeURIComponent(effectiveAt)}${reason === undefined ? '' : `&reason=${encodeURIComponent(reason)}`}`;
      expect(await call('DELETE', query(late))).toMatchObject({
        status: 400,
        body: { error: { code: 'reason_required' } },
      });
      expect(
        (await call('DELETE', query(late, 'closed by phone'), { token: tokens.compliance })).status,
      ).toBe(403);
      expect(await call('DELETE', query('yesterday', 'x'))).toMatchObject({
        status: 400,
        body: { error: { code: 'invalid_request' } },
      });
      const revoked = await call('DELETE', query(String(T0 - 2 * DAY), 'closed by phone'));
      expect(revoked).toMatchObject({
        status: 200,
        body: { revoked: [{ revokedAt: T0 - 2 * DAY, revocationEnteredAt: T0 }] },
      });
      const plain = await call('DELETE', `${user('corr-d')}/entitlements/CTA_B`);
      expect(plain).toMatchObject({
        status: 200,
        body: { revoked: [{ revokedAt: T0, revocationEnteredAt: T0 }] },
      });
      const detail = await call('GET', user('corr-d'));
      for (const product of ['CTA_A', 'CTA_B']) {
        expect(detail.body?.decisions?.[product]?.mode).toBe('delayed');
        expect(detail.body?.decisions?.[product]?.reasons).toContain('no_grant');
      }
      const [record] = (await auditOf(getDb(), 'user:corr-d')).filter((r) => r.action === 'grant.revoke');
      expect(record).toMatchObject({
        actor_id: 'admin',
        details: { product: 'CTA_A', reason: 'closed by phone', effectiveAt: T0 - 2 * DAY },
      });
    });
  });

  describe('errors', () => {
    it('answers 404 for unknown users and products', async () => {
      await createUser('erin');
      const cases: Array<[string, string, unknown, string]> = [
        ['GET', user('nobody'), undefined, 'unknown_user'],
        ['POST', `${user('nobody')}/attestations`, { status: 'professional' }, 'unknown_user'],
        ['POST', `${user('nobody')}/agreements`, { product: 'CTA_A' }, 'unknown_user'],
        ['POST', `${user('erin')}/agreements`, { product: 'OPRA' }, 'unknown_product'],
        ['PUT', `${user('nobody')}/entitlements/CTA_A`, { realtime: true }, 'unknown_user'],
        ['PUT', `${user('erin')}/entitlements/OPRA`, { realtime: true }, 'unknown_product'],
        ['DELETE', `${user('erin')}/entitlements/OPRA`, undefined, 'unknown_product'],
        ['POST', `${user('nobody')}/tokens`, {}, 'unknown_user'],
        ['POST', `${user('nobody')}/status`, { status: 'suspended', reason: 'x' }, 'unknown_user'],
      ];
      for (const [method, path, body, code] of cases) {
        const res = await call(method, path, { body, headers: { 'x-request-id': 'req-404' } });
        expect(res, `${method} ${path}`).toEqual({
          status: 404,
          body: { error: { code, message: expect.any(String), requestId: 'req-404' } },
        });
      }
    });

    it('refuses a delivery rate that is not a whole number of updates a second from 1 to 1000', async () => {
      await createUser('rhea');
      const routes: Array<[string, string, (rate: unknown) => unknown]> = [
        ['POST', '/admin/users', (rate) => ({ id: 'rhea-2', maxUpdatesPerSecond: rate })],
        [
          'PUT',
          `${user('rhea')}/entitlements/CTA_A`,
          (rate) => ({ realtime: true, maxUpdatesPerSecond: rate }),
        ],
        ['PUT', `${user('rhea')}/delivery-rate`, (rate) => ({ maxUpdatesPerSecond: rate })],
      ];
      for (const [method, path, body] of routes) {
        for (const rate of [0, -1, 1.5, 1e9, '5']) {
          const res = await call(method, path, { body: body(rate) });
          expect(res, `${method} ${path} ${String(rate)}`).toMatchObject({
            status: 400,
            body: {
              error: { code: 'invalid_request', message: expect.stringMatching(/maxUpdatesPerSecond/) },
            },
          });
        }
      }
      expect((await call('GET', user('rhea-2'))).status).toBe(404);
      const grants = await call('GET', user('rhea'));
      expect(grants.body?.grants).toEqual([]);
    });

    it("sets, shows and removes a user's delivery rate, and a grant carries its own", async () => {
      await createUser('ravi', { maxUpdatesPerSecond: 10 });
      const granted = await call('PUT', `${user('ravi')}/entitlements/CTA_A`, {
        body: { realtime: true, maxUpdatesPerSecond: 4 },
      });
      expect(granted.status).toBe(200);
      const set = await call('PUT', `${user('ravi')}/delivery-rate`, { body: { maxUpdatesPerSecond: 2 } });
      expect(set).toMatchObject({ status: 200, body: { maxUpdatesPerSecond: 2, changed: true } });
      const cleared = await call('PUT', `${user('ravi')}/delivery-rate`, {
        body: { maxUpdatesPerSecond: null },
      });
      expect(cleared).toMatchObject({ status: 200, body: { maxUpdatesPerSecond: null, changed: true } });
    });

    it('answers 409 for a duplicate user', async () => {
      await createUser('frank');
      const res = await call('POST', '/admin/users', { body: { id: 'frank' } });
      expect(res).toMatchObject({ status: 409, body: { error: { code: 'user_exists' } } });
    });

    it('answers 400 for malformed bodies and parameters', async () => {
      await createUser('gina');
      const cases: Array<[string, string, Call]> = [
        ['POST', '/admin/users', { raw: '{"id":' }],
        ['POST', '/admin/users', { body: {} }],
        ['POST', '/admin/users', { body: { id: '' } }],
        ['POST', '/admin/users', { body: { id: 'x', email: 'not an email' } }],
        ['POST', '/admin/users', { body: { id: 'x', extra: true } }],
        ['POST', '/admin/users', { body: { id: 'line\nbreak' } }],
        ['POST', '/admin/users', { body: { id: 'x'.repeat(129) } }],
        ['POST', '/admin/users', { body: [1, 2] }],
        ['POST', '/admin/users', { raw: '{"id":"x","name":"\\ud800"}' }],
        [
          'POST',
          `${user('gina')}/attestations`,
          { raw: '{"status":"professional","answers":{"a":"\\udc00"}}' },
        ],
        ['POST', `${user('gina')}/attestations`, { body: { status: 'amateur' } }],
        ['POST', `${user('gina')}/attestations`, { body: { status: 'professional', answers: 'yes' } }],
        ['PUT', `${user('gina')}/entitlements/CTA_A`, { body: { realtime: false } }],
        ['PUT', `${user('gina')}/entitlements/CTA_A`, { body: { realtime: true, validTo: 'tomorrow' } }],
        ['PUT', `${user('gina')}/entitlements/CTA_A`, { body: { realtime: true, validTo: T0 - 1 } }],
        ['POST', `${user('gina')}/status`, { body: { status: 'suspended' } }],
        ['POST', `${user('gina')}/status`, { body: { status: 'deleted', reason: 'x' } }],
        ['POST', '/admin/operators', { body: { id: 'Bad Id', role: 'admin' } }],
        ['POST', '/admin/operators', { body: { id: 'ok', role: 'root' } }],
      ];
      for (const [method, path, options] of cases) {
        const res = await call(method, path, options);
        expect(res.status, `${method} ${path} ${options.raw ?? JSON.stringify(options.body)}`).toBe(400);
        expect(res.body?.error).toMatchObject({
          code: expect.any(String),
          message: expect.any(String),
          requestId: expect.any(String),
        });
      }
      expect(messages).toEqual([
        { type: 'entitlements.changed', userId: 'gina', seq: expect.any(Number), at: expect.any(Number) },
      ]);
    });

    it('refuses a body that is not JSON', async () => {
      const res = await call('POST', '/admin/users', {
        raw: 'id=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status).toBe(415);
      expect(res.body?.error?.code).toEqual(expect.any(String));
    });
  });

  describe('security', () => {
    const ROUTES: Array<{ method: string; path: string; body?: unknown; roles: OperatorRole[] }> = [
      { method: 'POST', path: '/admin/users', body: { id: 'sec-new' }, roles: ['admin', 'support'] },
      { method: 'GET', path: '/admin/users', roles: ['admin', 'compliance', 'finance', 'support'] },
      { method: 'GET', path: '/admin/users/sec', roles: ['admin', 'compliance', 'finance', 'support'] },
      { method: 'PATCH', path: '/admin/users/sec', body: { name: 'Sec' }, roles: ['admin', 'support'] },
      {
        method: 'POST',
        path: '/admin/users/sec/attestations',
        body: { status: 'professional' },
        roles: ['admin', 'compliance'],
      },
      {
        method: 'POST',
        path: '/admin/users/sec/agreements',
        body: { product: 'CTA_A' },
        roles: ['admin', 'compliance'],
      },
      {
        method: 'PUT',
        path: '/admin/users/sec/entitlements/CTA_A',
        body: { realtime: true },
        roles: ['admin'],
      },
      { method: 'DELETE', path: '/admin/users/sec/entitlements/CTA_A', roles: ['admin'] },
      { method: 'POST', path: '/admin/users/sec/tokens', body: {}, roles: ['admin', 'support'] },
      { method: 'DELETE', path: '/admin/users/sec/tokens/tok_x', roles: ['admin', 'support'] },
      {
        method: 'POST',
        path: '/admin/users/sec/status',
        body: { status: 'suspended', reason: 'x' },
        roles: ['admin'],
      },
      { method: 'POST', path: '/admin/operators', body: { id: 'sec-op', role: 'support' }, roles: ['admin'] },
      { method: 'DELETE', path: '/admin/operators/op-finance', roles: ['admin'] },
    ];

    beforeAll(async () => {
      await app.request('/admin/users', {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'sec' }),
      });
    });

    it('answers 401 without a token, with a wrong, malformed or revoked one, on every route', async () => {
      // A missing token and a wrong one are told apart: an operator who forgot the header and one
      // with a stale token need different fixes.
      const missing = /operator token is required/;
      const wrong = /unknown or revoked/;
      const malformed = /must be Bearer <token>/;
      const bad: Array<[string, Call, RegExp]> = [
        ['no token', { token: null }, missing],
        ['wrong token', { token: 'mdo_not-a-real-token-at-all-000000000000000' }, wrong],
        ['revoked token', { token: tokens.revoked }, wrong],
        ['basic scheme', { token: null, headers: { authorization: `Basic ${ADMIN_TOKEN}` } }, malformed],
        ['empty bearer', { token: null, headers: { authorization: 'Bearer ' } }, malformed],
      ];
      for (const route of ROUTES) {
        for (const [label, options, says] of bad) {
          const res = await call(route.method, route.path, { ...options, body: route.body });
          expect(res.status, `${label}: ${route.method} ${route.path}`).toBe(401);
          expect(res.body?.error?.code).toBe('unauthorized');
          expect(res.body?.error?.message, label).toMatch(says);
        }
      }
      expect(messages).toEqual([]);
    });

    it('answers 403 to every role a route is not open to, before looking at the body', async () => {
      for (const route of ROUTES) {
        for (const role of ['admin', 'compliance', 'finance', 'support'] as const) {
          if (route.roles.includes(role)) continue;
          const res = await call(route.method, route.path, { token: tokens[role], raw: '{not json' });
          expect(res.status, `${role}: ${route.method} ${route.path}`).toBe(403);
          expect(res.body?.error?.code).toBe('forbidden');
        }
      }
      expect(messages).toEqual([]);
    });

    it('lets each allowed role through', async () => {
      for (const route of ROUTES) {
        for (const role of route.roles) {
          const res = await call(route.method, route.path, { token: tokens[role], body: route.body });
          expect([200, 201, 404, 409], `${role}: ${route.method} ${route.path}`).toContain(res.status);
        }
      }
    });

    it('stores injection strings literally as ids and names', async () => {
      await createUser(HOSTILE, { name: 'Robert"); DROP TABLE grants;--', email: 'bobby@example.com' });
      const detail = await call('GET', user(HOSTILE));
      expect(detail.body).toMatchObject({ id: HOSTILE, name: 'Robert"); DROP TABLE grants;--' });
      const found = await call('GET', `/admin/users?q=${encodeURIComponent('DROP TABLE')}`);
      expect(found.body?.users?.map((u) => u.id)).toContain(HOSTILE);
      const granted = await call('PUT', `${user(HOSTILE)}/entitlements/CTA_A`, { body: { realtime: true } });
      expect(granted.status).toBe(200);
      const injectedProduct = await call(
        'PUT',
        `${user(HOSTILE)}/entitlements/${encodeURIComponent("CTA_A' OR '1'='1")}`,
        {
          body: { realtime: true },
        },
      );
      expect(injectedProduct.status).toBe(404);
      const { rows } = await getDb().query<{ n: number }>('select count(*)::int8 as n from users');
      expect(rows[0]!.n).toBeGreaterThan(1);
    });

    it('refuses a body over 64 KiB with 413, with or without a content length', async () => {
      const big = { id: 'big', name: 'x'.repeat(70 * 1024) };
      const res = await call('POST', '/admin/users', { body: big, headers: { 'x-request-id': 'req-413' } });
      expect(res).toEqual({
        status: 413,
        body: { error: { code: 'payload_too_large', message: expect.any(String), requestId: 'req-413' } },
      });
      const streamed = await app.request('/admin/users', {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(JSON.stringify(big)));
            controller.close();
          },
        }),
        duplex: 'half',
      } as RequestInit);
      expect(streamed.status).toBe(413);
      expect((await call('GET', user('big'))).status).toBe(404);
    });

    /** The entitlement routes behind `auth`, on an app of their own (the shared one has no limit). */
    const limitedApp = (auth: ReturnType<typeof operatorAuth>) => {
      const app = createApp({
        logger: silentLogger,
        metrics: createMetricsRegistry(),
        health: new HealthChecks(),
      });
      app.use('/admin/*', auth);
      app.route(
        '/admin',
        entitlementRoutes({
          db: getDb(),
          bus,
          catalog: testCatalog(),
          defaultSessionLimit: 2,
          now: () => clock,
        }),
      );
      return app;
    };

    it('answers a burst of bad operator tokens with 429 after the limit, and still lets a valid token in from another address', async () => {
      const guarded = limitedApp(operatorAuth(getDb(), { limiter: { now: () => clock } }));
      // As the Node server hands the socket to each request.
      const from = (address: string, token: string) =>
        guarded.request(
          '/admin/users?limit=1',
          { headers: { authorization: `Bearer ${token}` } },
          { incoming: { socket: { remoteAddress: address } } },
        );
      const statuses: number[] = [];
      for (let i = 0; i < 300; i++) statuses.push((await from('203.0.113.7', `mdo_guess_${i}`)).status);
      expect(statuses.slice(0, 20)).toEqual(Array(20).fill(401));
      expect(statuses.slice(20)).toEqual(Array(280).fill(429));
      const refused = await from('203.0.113.7', ADMIN_TOKEN);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await refused.json()).toMatchObject({ error: { code: 'too_many_failures' } });

      expect((await from('198.51.100.20', tokens.support)).status).toBe(200);
      clock += 61_000;
      expect((await from('203.0.113.7', ADMIN_TOKEN)).status).toBe(200);
    });

    it('behind a trusted proxy, counts bad operator tokens per client, not per proxy', async () => {
      const proxied = limitedApp(
        operatorAuth(getDb(), {
          limiter: { now: () => clock },
          addresses: new ClientAddresses(['10.0.0.0/8']),
        }),
      );
      const via = (client: string, token: string) =>
        proxied.request(
          '/admin/users?limit=1',
          { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': client } },
          { incoming: { socket: { remoteAddress: '10.1.2.3' } } },
        );
      for (let i = 0; i < 25; i++) await via('203.0.113.99', `mdo_guess_${i}`);
      expect((await via('203.0.113.99', ADMIN_TOKEN)).status).toBe(429);
      expect((await via('198.51.100.21', ADMIN_TOKEN)).status).toBe(200);
    });

    it('lets support hand out no real time it could not grant: no session limit, no new device of a user with real time', async () => {
      const limited = await call('POST', '/admin/users', {
        token: tokens.support,
        body: { id: 'sup-many', sessionLimit: 1000 },
      });
      expect(limited).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect((await call('GET', user('sup-many'))).status).toBe(404);
      expect(
        (await call('POST', '/admin/users', { token: tokens.support, body: { id: 'sup-rt' } })).status,
      ).toBe(201);
      expect(
        (await call('POST', '/admin/users', { body: { id: 'sup-admin-made', sessionLimit: 5 } })).status,
      ).toBe(201);

      expect(
        (await call('PUT', `${user('sup-rt')}/entitlements/CTA_A`, { body: { realtime: true } })).status,
      ).toBe(200);
      const own = await call('POST', `${user('sup-rt')}/tokens`, { body: { deviceId: 'rt-phone' } });
      expect(own.status).toBe(201);
      const extra = await call('POST', `${user('sup-rt')}/tokens`, {
        token: tokens.support,
        body: { deviceId: 'someone-elses-tablet' },
      });
      expect(extra).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      // Replacing the token of a device the user has, or a token bound to no device, adds nothing.
      const replaced = await call('POST', `${user('sup-rt')}/tokens`, {
        token: tokens.support,
        body: { deviceId: 'rt-phone' },
      });
      expect(replaced.status).toBe(201);
      expect((await call('POST', `${user('sup-rt')}/tokens`, { token: tokens.support })).status).toBe(201);
      const detail = await call('GET', user('sup-rt'));
      expect(
        ((detail.body?.tokens ?? []) as Array<{ deviceId: string | null }>)
          .map((t) => String(t.deviceId))
          .sort(),
      ).toEqual(['null', 'rt-phone', 'rt-phone']);
    });

    it('lets only a role that may grant issue a token for an application (non-display)', async () => {
      await createUser('sup-app');
      const refused = await call('POST', `${user('sup-app')}/tokens`, {
        token: tokens.support,
        body: { usage: 'non_display' },
      });
      expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect((await call('GET', user('sup-app'))).body?.tokens).toEqual([]);
      expect(
        (
          await call('POST', `${user('sup-app')}/tokens`, {
            token: tokens.support,
            body: { usage: 'display' },
          })
        ).status,
      ).toBe(201);
    });

    it('never writes a token into the audit log', async () => {
      await createUser('tok-audit');
      const issued = await call('POST', `${user('tok-audit')}/tokens`, { body: {} });
      const op = await call('POST', '/admin/operators', { body: { id: 'tok-audit-op', role: 'finance' } });
      const { rows } = await getDb().query<{ all: string }>(
        "select string_agg(coalesce(before_json, '') || coalesce(after_json, '') || coalesce(details_json, ''), '') as all from audit_log",
      );
      expect(rows[0]!.all).not.toContain(issued.body?.token);
      expect(rows[0]!.all).not.toContain(op.body?.token);
      expect(rows[0]!.all).not.toContain(ADMIN_TOKEN);
    });
  });
});
