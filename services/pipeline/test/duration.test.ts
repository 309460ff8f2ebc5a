import { parseDuration } from '@pullback/archive';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/index.js';

/** A config whose one component keeps what `retention` says. */
function withRetention(retention: string): string {
  return [
    'redis: redis://127.0.0.1:6379',
    'archive: { url: /var/lib/pullback/archive }',
    'components:',
    '  docs:',
    '    recipe: files',
    '    path: /srv/docs',
    '    outbox: /var/lib/pullback/outbox/docs',
    `    retention: ${retention}`,
    '',
  ].join('\n');
}

function keepWithinProblem(text: string): string | undefined {
  try {
    parseConfig(withRetention(`{ keepWithin: "${text}" }`), 'pullback.yaml');
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.lines.join('\n');
    throw error;
  }
}

// The config's keepWithin is read by the parser retention applies (the archive's).
describe('keepWithin in the config', () => {
  it('accepts what retention can apply: units largest first, weeks folded into days', () => {
    expect(parseDuration('7d')).toEqual({ years: 0, months: 0, days: 7, hours: 0 });
    expect(parseDuration('1y6m2w1d12h')).toEqual({ years: 1, months: 6, days: 15, hours: 12 });
    for (const text of ['7d', '1y6m2w1d12h', '36h', '0d']) expect(keepWithinProblem(text)).toBeUndefined();
  });

  it('refuses anything else, and every span retention would refuse', () => {
    for (const text of ['', '7', '7days', 'd7', '1d1y', '1.5d', ' 7d', '99999999999y']) {
      expect(() => parseDuration(text)).toThrow();
      expect(keepWithinProblem(text)).toMatch(/retention\.keepWithin: expected a duration like "7d"/);
    }
  });

  it('takes every rule of the archive policy, keepYearly included', () => {
    const config = parseConfig(withRetention('{ keepYearly: 3, keepMonthly: 12 }'), 'pullback.yaml');
    expect(config.components.docs?.retention).toEqual({ keepYearly: 3, keepMonthly: 12 });
  });
});
