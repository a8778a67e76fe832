/**
 * The pass-through as the edge role mounts it (issue 16 item 4): POLYGON_REST_URL and
 * POLYGON_API_KEY reach it through the environment, a real user token (from the entitlements
 * verbs) authenticates, the fake vendor gets the edge headers and never the token, and nothing
 * of it becomes a usage event.
 */
import { GetStocksAggregatesTimespanEnum, restClient } from '@polygon.io/client-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakePolygonRest } from '../../testing/index.js';
import { type DistributionFixture, distributionFixture } from './fixture.js';
import { quote, readUsage, setLastValues, type TestUser } from './helpers.js';

const VENDOR_KEY = 'vendor-key-passthrough-hub';
let vendor: FakePolygonRest;
let fx: DistributionFixture;
let user: TestUser;

beforeAll(async () => {
  vendor = await FakePolygonRest.start({ key: VENDOR_KEY });
  fx = await distributionFixture({
    name: 'passthrough',
    env: {
      POLYGON_API_KEY: VENDOR_KEY,
      POLYGON_REST_URL: vendor.url,
      MDHUB_EDGE_ALIAS_SECRET: 'a-secret-of-16-chars+',
    },
  });
  user = await fx.user('pass-user');
  await setLastValues(fx.bus, [quote('MSFT', 3, Date.now(), 400)]);
});

afterAll(async () => {
  await fx?.close();
  await vendor?.close();
});

describe('pass-through on the edge role', () => {
  it('fetches a past range for a delayed user with the edge headers, unmetered, never sending the token', async () => {
    const rest = restClient(user.token, `http://127.0.0.1:${fx.port}`);
    const bars = await rest.getStocksAggregates(
      'MSFT',
      1,
      GetStocksAggregatesTimespanEnum.Day,
      '2020-01-06',
      '2020-01-08',
    );
    expect(bars.results).toHaveLength(3);
    const status = await rest.getMarketStatus();
    expect(status.market).toBe('closed');
    expect(vendor.requests).toHaveLength(2);
    for (const sent of vendor.requests) {
      expect(sent.headers.authorization).toBe(`Bearer ${VENDOR_KEY}`);
      expect(sent.headers['x-polygon-edge-id']).toMatch(/^u[0-9a-f]{32}$/);
      expect(sent.headers['x-polygon-edge-ip-address']).toBe('127.0.0.1');
    }
    expect(vendor.requests[0]!.headers['x-polygon-edge-id']).toBe(
      vendor.requests[1]!.headers['x-polygon-edge-id'],
    );
    const sentText = JSON.stringify(vendor.requests.map((r) => ({ h: r.headers, q: [...r.query] })));
    expect(sentText).not.toContain(user.token);
    expect(sentText).not.toContain('pass-user');
    const usage = (await readUsage(fx.bus, 'passthrough-test')).filter((event) => event.user === 'pass-user');
    expect(usage).toEqual([]);
  });
});
