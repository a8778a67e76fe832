import { describe, expect, it } from 'vitest';
import { csvCell, csvRecord } from '../../platform/csv.js';

describe('the CSV cell encoder every CSV goes through', () => {
  it('turns text a spreadsheet would run as a formula into quoted text with a leading quote', () => {
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
    expect(csvCell('+1+cmd|calc')).toBe('"\'+1+cmd|calc"');
    expect(csvCell('-2+3')).toBe('"\'-2+3"');
    expect(csvCell('@SUM(A1)')).toBe('"\'@SUM(A1)"');
    expect(csvCell('\t=1')).toBe('"\'\t=1"');
    expect(csvCell('\r=1')).toBe('"\'\r=1"');
  });

  it('leaves plain numbers, money included, as they are: a spreadsheet reads them as numbers', () => {
    expect(csvCell('-1.500000')).toBe('-1.500000');
    expect(csvCell(-3)).toBe('-3');
    expect(csvCell('42')).toBe('42');
    expect(csvCell(0.5)).toBe('0.5');
  });

  it('quotes RFC 4180 style only where a field needs it; null is empty', () => {
    expect(csvRecord(['a', 'b,c', 'say "hi"', 'two\nlines', null, true])).toBe(
      'a,"b,c","say ""hi""","two\nlines",,true',
    );
    expect(csvCell('user=1')).toBe('user=1');
  });
});
