import { describe, expect, it } from 'vitest';
import { type FilingFile, sameFiles } from '../../usage/filing-files.js';

const file = (format: 'json' | 'csv', detail: boolean, sha256: string): FilingFile => ({
  format,
  detail,
  sha256,
  bytes: 1,
});

const FILED = [
  file('json', false, 'a'),
  file('json', true, 'b'),
  file('csv', false, 'c'),
  file('csv', true, 'd'),
];

describe('whether a filing still matches the report regenerated now', () => {
  it('compares the JSON renderings: a CSV layout changed between versions is no drift', () => {
    const relaid = [
      file('json', false, 'a'),
      file('json', true, 'b'),
      file('csv', false, 'x'),
      file('csv', true, 'y'),
    ];
    expect(sameFiles(FILED, relaid)).toBe(true);
  });

  it('is drift when either JSON rendering differs', () => {
    expect(sameFiles(FILED, [file('json', false, 'a'), file('json', true, 'z')])).toBe(false);
    expect(sameFiles(FILED, [file('json', false, 'z'), file('json', true, 'b')])).toBe(false);
    expect(sameFiles(FILED, [file('json', false, 'a')])).toBe(false);
  });
});
