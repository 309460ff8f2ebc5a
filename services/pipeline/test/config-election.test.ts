import { describe, expect, it } from 'vitest';
import { ConfigError, ELECTION_SETTING_DEFAULTS, electionSettings, parseConfig } from '../src/index.js';

const BASE = `
redis: redis://127.0.0.1:6379
archive: { url: file:///var/lib/pullback/archive }
components:
  shop:
    recipe: postgres
    outbox: file:///var/lib/pullback/outbox/shop
    instances:
      - { name: shop-a, role: active,   host: 127.0.0.1, port: 5432, dataDir: /srv/pg/a, priority: 100 }
      - { name: shop-b, role: fallback, host: 127.0.0.1, port: 5433, dataDir: /srv/pg/b, priority: 50 }
`;

function problems(election: string): readonly string[] {
  try {
    parseConfig(`${BASE}election: ${election}\n`, 'pullback.yaml');
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.lines;
    throw error;
  }
}

describe('parseConfig: election settings (docs/election.md "Defaults")', () => {
  it('optional: the defaults of docs/election.md when absent, the given ones over them when present', () => {
    expect(electionSettings(parseConfig(BASE, 'pullback.yaml'))).toEqual(ELECTION_SETTING_DEFAULTS);
    expect(ELECTION_SETTING_DEFAULTS).toMatchObject({
      renewMs: 1000,
      activeLeaseMs: 3000,
      leaderLeaseMs: 3000,
      probeMs: 500,
      probeTimeoutMs: 1000,
      agentSilentMs: 2000,
      failoverDelayMs: 2000,
      maxLagBytes: 16 * 1024 * 1024,
    });
    const config = parseConfig(
      `${BASE}election: { failoverDelayMs: 5000, probeMs: 250, maxLagBytes: 0 }\n`,
      'pullback.yaml',
    );
    expect(electionSettings(config)).toEqual({
      ...ELECTION_SETTING_DEFAULTS,
      failoverDelayMs: 5000,
      probeMs: 250,
      maxLagBytes: 0,
    });
  });

  it('a bad value is one line naming the key', () => {
    expect(problems('{ probeMs: 0 }')).toEqual([
      'pullback.yaml: election.probeMs: must be at least 1, got 0',
    ]);
    expect(problems('{ failoverDelayMs: 2s }')).toEqual([
      'pullback.yaml: election.failoverDelayMs: expected an integer, got "2s"',
    ]);
    expect(problems('{ maxLagBytes: -1 }')).toEqual([
      'pullback.yaml: election.maxLagBytes: must be at least 0, got -1',
    ]);
    expect(problems('{ probeMS: 500 }')).toEqual([
      'pullback.yaml: election.probeMS: unknown key (did you mean "probeMs"?)',
    ]);
  });

  it('settings that would break the safety rule are refused, defaults counted', () => {
    expect(problems('{ activeLeaseMs: 1000 }')).toEqual([
      'pullback.yaml: election.activeLeaseMs: renewMs (1000) must be below activeLeaseMs (1000): the active lease would lapse between renewals',
    ]);
    expect(problems('{ renewMs: 2500 }')).toEqual([
      'pullback.yaml: election.renewMs: renewMs (2500) must be below agentSilentMs (2000): a healthy agent would look silent between heartbeats',
    ]);
    expect(problems('{ clockMarginMs: 3000 }')).toEqual([
      'pullback.yaml: election.clockMarginMs: clockMarginMs (3000) must be below activeLeaseMs (3000): no permission would be left',
      'pullback.yaml: election.clockMarginMs: clockMarginMs (3000) must be below failsafeMs (3000): no failsafe promise would count',
    ]);
  });
});
