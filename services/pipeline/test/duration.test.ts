import { describe, expect, it } from 'vitest';
import { parseDuration } from '../src/index.js';

describe('parseDuration', () => {
  it('reads units largest first, weeks folded into days', () => {
    expect(parseDuration('7d')).toEqual({ years: 0, months: 0, days: 7, hours: 0 });
    expect(parseDuration('1y6m2w1d12h')).toEqual({ years: 1, months: 6, days: 15, hours: 12 });
  });

  it('rejects anything else', () => {
    for (const text of ['', '7', '7days', 'd7', '1d1y', '1.5d', ' 7d'])
      expect(parseDuration(text)).toBeUndefined();
  });
});
