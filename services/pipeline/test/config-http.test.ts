import { describe, expect, it } from 'vitest';
import { ConfigError, longestScheduleGapSeconds, parseConfig } from '../src/index.js';

const BASE = `
redis: redis://127.0.0.1:6379
archive: { url: file:///var/lib/pullback/archive }
components:
  shop:
    recipe: postgres
    outbox: file:///var/lib/pullback/outbox/shop
    instances:
      - { name: shop-a, role: active, host: 127.0.0.1, port: 5432, dataDir: /srv/pg/a, priority: 100 }
`;

function problems(http: string): readonly string[] {
  try {
    parseConfig(`${BASE}http: ${http}\n`, 'pullback.yaml');
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.lines;
    throw error;
  }
}

describe("parseConfig: up's http server (docs/observability.md)", () => {
  it('is optional; with it, a port and a host that defaults to 127.0.0.1', () => {
    expect(parseConfig(BASE, 'pullback.yaml').http).toBeUndefined();
    expect(parseConfig(`${BASE}http: { port: 9187 }\n`, 'pullback.yaml').http).toEqual({
      port: 9187,
      host: '127.0.0.1',
    });
    expect(parseConfig(`${BASE}http: { port: 9187, host: 0.0.0.0 }\n`, 'pullback.yaml').http).toEqual({
      port: 9187,
      host: '0.0.0.0',
    });
  });

  it('refuses a missing or bad port and an unknown key, each in one line naming the key', () => {
    expect(problems('{ host: 127.0.0.1 }')).toEqual(['pullback.yaml: http.port: required']);
    expect(problems('{ port: 70000 }')).toEqual([expect.stringMatching(/http\.port/)]);
    expect(problems('{ port: 9187, hots: x }')).toEqual(['pullback.yaml: http.hots: unknown key']);
    expect(problems('{ port: 9187, Host: x }')).toEqual([expect.stringMatching(/http\.Host: .*"host"/)]);
  });
});

describe('longestScheduleGapSeconds (the missing-snapshot alert)', () => {
  it('is the longest wait between two scheduled exports', () => {
    const monday = new Date('2026-12-07T10:00:00Z');
    expect(longestScheduleGapSeconds('0 * * * *', monday)).toBe(3600);
    expect(longestScheduleGapSeconds('@daily', monday)).toBe(86_400);
    // Weekdays at 9: the weekend is the longest wait.
    expect(longestScheduleGapSeconds('0 9 * * 1-5', monday)).toBe(3 * 86_400);
  });
});
