import { describe, expect, it } from 'vitest';
import { describeRound, type RoundResult } from '../src/soak/round.js';
import { soakTable } from '../src/soak/table.js';

const FAULTS = ['host death', 'redis stopped', 'switchover'];

function round(overrides: Partial<RoundResult>): RoundResult {
  return {
    round: 1,
    fault: 'host death',
    outcome: 'failover shop-a -> shop-b',
    seconds: 4,
    lost: 0,
    lostOutsideRpo: 0,
    lostAfterFault: 0,
    twoWritable: false,
    failures: [],
    recoveredSeconds: 30,
    ...overrides,
  };
}

describe("soak:election's figures", () => {
  it('a clean soak meets every target: counts per fault, the median and worst of the unplanned faults', () => {
    const lines = soakTable(
      [
        round({ round: 1, seconds: 3 }),
        round({
          round: 2,
          fault: 'redis stopped',
          outcome: 'no failover, writes went on (redis down 20 s)',
          seconds: 0.4,
        }),
        round({
          round: 3,
          fault: 'switchover',
          outcome: 'switched shop-b -> shop-a (command 6.1 s)',
          seconds: 1.2,
        }),
        round({ round: 4, seconds: 5, outcome: 'failover shop-a -> shop-c', lost: 1 }),
      ],
      FAULTS,
    );
    expect(lines.find((line) => line.startsWith('host death'))).toMatch(
      /^host death\s+2\s+2 failover\s+3\.0 s, 5\.0 s\s+1 \(0; 0 after\)\s+0\s+0$/,
    );
    expect(lines.find((line) => line.startsWith('redis stopped'))).toMatch(/1 no failover, writes went on/);
    expect(lines.find((line) => line.startsWith('switchover'))).toMatch(/1 switched/);
    expect(lines.find((line) => line.startsWith('fault to an active'))).toMatch(
      /median 3\.0 s, worst 5\.0 s\s+\[ok: median <= 8 s, worst <= 15 s\]$/,
    );
    expect(lines.filter((line) => line.includes('MISSED'))).toEqual([]);
  });

  it('a round with two writable, a failed round, a loss outside the RPO and a slow failover are each MISSED', () => {
    const lines = soakTable(
      [
        round({ round: 1, seconds: 16, twoWritable: true, failures: ['two writable: shop-a and shop-b'] }),
        round({ round: 2, lost: 3, lostOutsideRpo: 2, lostAfterFault: 1 }),
        round({
          round: 3,
          fault: 'switchover',
          outcome: 'switched shop-b -> shop-a',
          seconds: 1,
          lost: 1,
          lostOutsideRpo: 1,
        }),
      ],
      FAULTS,
    );
    const missed = lines.filter((line) => line.includes('MISSED'));
    expect(missed.map((line) => line.split('  ')[0])).toEqual([
      'fault to an active taking writes again (2 rounds of host death, leader paused, redis restart, manual --activate, server stopped)',
      "acknowledged writes lost (asynchronous, 1 s RPO; a switchover's RPO is 0)",
      "planned switchover, client's writes refused (1)",
      'rounds with two writable instances (3 rounds)',
      'rounds failed (not whole again, or an expectation broken)',
    ]);
    expect(lines.find((line) => line.startsWith('acknowledged writes lost'))).toContain(
      '4 (3 outside the RPO; 1 acknowledged after the fault)',
    );
  });

  it("a round's line names the fault, the outcome, the figure, the losses and every failure", () => {
    expect(
      describeRound(
        round({
          round: 5,
          fault: 'server stopped',
          outcome: 'restarted in place',
          seconds: 2.04,
          failures: ['x', 'y'],
        }),
        50,
      ),
    ).toBe(
      'round 5/50 server stopped: restarted in place; 2.0 s, lost 0 (0 outside the RPO, 0 acknowledged after the fault), two writable: no, whole again after 30 s; FAILED: x; y',
    );
  });
});
