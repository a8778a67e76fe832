import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  applyPrice,
  chargeIdentifier,
  DEFAULT_PRICES_PATH,
  parsePrices,
  priceAt,
} from '../../billing/index.js';
import { ConfigError, loadCatalog } from '../../config/index.js';

const catalog = loadCatalog();
const defaults = () =>
  JSON.parse(readFileSync(DEFAULT_PRICES_PATH, 'utf8')) as { products: Array<Record<string, unknown>> };

describe('prices', () => {
  it('passes the exchange fee through with a markup rounded half up to the micro-dollar', () => {
    expect(applyPrice({ type: 'pass_through', markupFixed: 0, markupBps: 1000 }, 13_650_000)).toEqual({
      amount: 15_015_000,
      rule: 'pass_through+10.00%+0.000000',
    });
    expect(applyPrice({ type: 'pass_through', markupFixed: 500_000, markupBps: 1 }, 5)).toMatchObject({
      amount: 500_005,
    });
    expect(applyPrice({ type: 'pass_through', markupFixed: 0, markupBps: 5000 }, 3).amount).toBe(5);
    expect(applyPrice({ type: 'free' }, 45_000_000)).toEqual({ amount: 0, rule: 'free' });
  });

  it('applies the schedule in force, effective-dated', () => {
    const data = defaults();
    const cta = data.products[0] as { prices: unknown[] };
    cta.prices.push({
      effectiveFrom: '2027-01-01',
      professional: { type: 'free' },
      non_professional: { type: 'free' },
    });
    const prices = parsePrices(data, catalog);
    expect(priceAt(prices, 'CTA_A', 'professional', Date.UTC(2026, 11, 31))).toMatchObject({
      type: 'pass_through',
    });
    expect(priceAt(prices, 'CTA_A', 'professional', Date.UTC(2027, 0, 1))).toEqual({ type: 'free' });
    expect(priceAt(prices, 'CTA_A', 'professional', Date.UTC(2023, 0, 1))).toBeUndefined();
  });

  it('refuses a file that leaves a product unpriced, names an unknown one, or has a float for money', () => {
    const missing = defaults();
    missing.products.pop();
    expect(() => parsePrices(missing, catalog)).toThrow(/product UTP has no price/);
    const unknown = defaults();
    (unknown.products[0] as { id: string }).id = 'OPRA';
    expect(() => parsePrices(unknown, catalog)).toThrow(ConfigError);
    const float = defaults();
    (float.products[0] as { prices: Array<{ professional: unknown }> }).prices[0]!.professional = {
      type: 'pass_through',
      markupFixed: 1.5,
    };
    expect(() => parsePrices(float, catalog)).toThrow(/products\.0\.prices\.0\.professional/);
  });
});

describe('charge identifiers', () => {
  it('are deterministic, readable for plain ids, hashed and bounded for any other id', () => {
    expect(chargeIdentifier('2026-10', 'u-1001', 'CTA_A')).toBe('mdhub:2026-10:u-1001:CTA_A:v1');
    const odd = chargeIdentifier('2026-10', 'ünïcode user:with:colons', 'CTA_A');
    expect(odd).toMatch(/^mdhub:2026-10:#[0-9a-f]{32}:CTA_A:v1$/);
    expect(chargeIdentifier('2026-10', 'x'.repeat(128), 'CTA_A').length).toBeLessThanOrEqual(100);
    expect(chargeIdentifier('2026-10', 'ünïcode user:with:colons', 'CTA_A')).toBe(odd);
  });
});
