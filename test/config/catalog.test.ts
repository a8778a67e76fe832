import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatMicros, loadCatalog, parseCatalog, parseMicros } from '../../config/index.js';

const base = () => ({
  version: 'test-1',
  licensors: [{ id: 'CTA', name: 'CTA', agreement: { name: 'NYSE Subscriber Agreement', version: '1' } }],
  products: [
    {
      id: 'CTA_A',
      name: 'Tape A',
      licensor: 'CTA',
      tape: 1,
      delayMs: 900000,
      delayedAllowed: true,
      unit: 'user',
      basis: 'entitled',
      fees: [
        {
          effectiveFrom: '2026-01-01',
          professional: { type: 'monthly', amount: '40.00' },
          non_professional: { type: 'monthly', amount: '5' },
        },
        {
          effectiveFrom: '2026-07-01',
          professional: { type: 'monthly', amount: '45.50' },
          non_professional: { type: 'per_query', perQuery: '0.0075', cap: '1.00' },
        },
      ],
    },
  ],
});

describe('product catalog', () => {
  it('ships CTA_A, CTA_B and UTP on tapes 1, 2 and 3 with a 15-minute delay', () => {
    const catalog = loadCatalog();
    expect([...catalog.products.keys()]).toEqual(['CTA_A', 'CTA_B', 'UTP']);
    expect(catalog.productForTape(1)?.id).toBe('CTA_A');
    expect(catalog.productForTape(2)?.id).toBe('CTA_B');
    expect(catalog.productForTape(3)?.id).toBe('UTP');
    for (const product of catalog.products.values()) {
      expect(product.delayMs).toBe(900_000);
      expect(catalog.licensors.has(product.licensor)).toBe(true);
    }
  });

  it('picks the fee schedule in force at an instant', () => {
    const catalog = parseCatalog(base());
    expect(catalog.scheduleAt('CTA_A', Date.parse('2025-12-31T23:59:59Z'))).toBeUndefined();
    expect(catalog.scheduleAt('CTA_A', Date.parse('2026-06-30T23:59:59Z'))?.fees.professional).toEqual({
      type: 'monthly',
      amount: 40_000_000,
    });
    expect(catalog.scheduleAt('CTA_A', Date.parse('2026-07-01T00:00:00Z'))?.fees.non_professional).toEqual({
      type: 'per_query',
      perQuery: 7_500,
      cap: 1_000_000,
    });
  });

  it('overrides every delay with MDHUB_DELAY_MS', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdhub-catalog-'));
    const file = join(dir, 'catalog.json');
    writeFileSync(file, JSON.stringify(base()));
    expect(loadCatalog(file, 2_000).products.get('CTA_A')?.delayMs).toBe(2_000);
  });

  it('refuses money written as a float, a duplicate product and an unknown licensor', () => {
    const bad = base();
    bad.products[0]!.fees[0]!.professional = { type: 'monthly', amount: 24 as unknown as string };
    expect(() => parseCatalog(bad)).toThrow(ConfigError);
    const dup = base();
    dup.products.push({ ...dup.products[0]!, tape: 2 });
    expect(() => parseCatalog(dup)).toThrow(/products\.1\.id is a duplicate/);
    const orphan = base();
    orphan.products[0]!.licensor = 'OPRA';
    expect(() => parseCatalog(orphan)).toThrow(/licensor is not a listed licensor/);
  });

  it('ships each product with its licensor code, licensors requiring name and address, and a non-display fee', () => {
    const catalog = loadCatalog();
    expect([...catalog.products.values()].map((p) => [p.id, p.licensor, p.licensorCode])).toEqual([
      ['CTA_A', 'CTA', 'NETWORK_A'],
      ['CTA_B', 'CTA', 'NETWORK_B'],
      ['UTP', 'UTP', 'UTP_L1'],
    ]);
    for (const licensor of catalog.licensors.values())
      expect(licensor.requiredDetailFields).toEqual(['name', 'address']);
    expect(catalog.scheduleAt('UTP', Date.parse('2026-03-01T00:00:00Z'))?.fees.non_display).toEqual({
      type: 'monthly',
      amount: 24_000_000,
    });
  });

  it('charges non-display at the professional fee unless the schedule states its own', () => {
    const catalog = parseCatalog(base());
    const july = Date.parse('2026-07-01T00:00:00Z');
    expect(catalog.scheduleAt('CTA_A', july)?.fees.non_display).toEqual({
      type: 'monthly',
      amount: 45_500_000,
    });
    const own = base();
    Object.assign(own.products[0]!.fees[1]!, {
      non_display: { type: 'per_query', perQuery: '0.01', cap: '30' },
    });
    expect(parseCatalog(own).scheduleAt('CTA_A', july)?.fees.non_display).toEqual({
      type: 'per_query',
      perQuery: 10_000,
      cap: 30_000_000,
    });
    expect(catalog.licensors.get('CTA')?.requiredDetailFields).toEqual([]);
    expect(catalog.products.get('CTA_A')?.licensorCode).toBeUndefined();
  });

  it('refuses a licensor code used twice by one licensor, a malformed one, an unknown detail field and a bad non-display fee', () => {
    const twice = base();
    twice.products.push({ ...twice.products[0]!, id: 'CTA_B', tape: 2 });
    Object.assign(twice.products[0]!, { licensorCode: 'NET_A' });
    Object.assign(twice.products[1]!, { licensorCode: 'NET_A' });
    expect(() => parseCatalog(twice)).toThrow(
      /products\.1\.licensorCode is used by two products of licensor CTA/,
    );
    const malformed = base();
    Object.assign(malformed.products[0]!, { licensorCode: '=cmd' });
    expect(() => parseCatalog(malformed)).toThrow(/products\.0\.licensorCode must be 1 to 32 letters/);
    const field = base();
    Object.assign(field.licensors[0]!, { requiredDetailFields: ['name', 'shoe_size'] });
    expect(() => parseCatalog(field)).toThrow(
      /licensors\.0\.requiredDetailFields\.1 must be one of name, address/,
    );
    const fee = base();
    Object.assign(fee.products[0]!.fees[0]!, { non_display: { type: 'monthly', amount: '-1' } });
    expect(() => parseCatalog(fee)).toThrow(/fees\.0\.non_display\.amount/);
  });

  it('names an unreadable catalog file', () => {
    expect(() => loadCatalog('/nonexistent/catalog.json')).toThrow(
      /cannot read catalog \/nonexistent\/catalog\.json/,
    );
  });
});

describe('money', () => {
  it('round-trips decimal dollars through integer micro-dollars exactly', () => {
    expect(parseMicros('24.00')).toBe(24_000_000);
    expect(parseMicros('0.0075')).toBe(7_500);
    expect(parseMicros('13.65')).toBe(13_650_000);
    expect(formatMicros(13_650_000)).toBe('13.650000');
    expect(formatMicros(7_500 * 3)).toBe('0.022500');
    expect(() => parseMicros('1e3')).toThrow();
    expect(() => parseMicros('0.0000001')).toThrow();
    expect(() => parseMicros('-1')).toThrow();
  });
});
