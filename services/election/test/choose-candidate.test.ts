import { describe, expect, it } from 'vitest';
import { chooseCandidate, type Fallback } from '../src/index.js';

const MB = 1024 * 1024;

function fallback(
  name: string,
  lsn: string | undefined,
  priority = 50,
  healthy = true,
  reason?: string,
): Fallback {
  return { name, priority, healthy, ...(lsn === undefined ? {} : { lsn }), ...(reason ? { reason } : {}) };
}

const names = (fallbacks: readonly Fallback[]) => fallbacks.map((f) => f.name);

describe('chooseCandidate', () => {
  it('takes the newest received-and-replayed position, compared as numbers, not text', () => {
    // As text, '9/0' sorts after '10/0' and 'A0' after 'FF': numbers put them right.
    const choice = chooseCandidate([fallback('b', '9/FF'), fallback('c', '10/0'), fallback('d', '10/A0')], {
      maxLagBytes: MB,
    });
    expect(choice.chosen?.name).toBe('d');
    expect(names(choice.ranked)).toEqual(['d', 'c', 'b']);
    expect(choice.excluded).toEqual([]);
  });

  it('breaks a tie on position by priority, then by name', () => {
    const choice = chooseCandidate(
      [
        fallback('e', '1/0', 50),
        fallback('c', '1/0', 100),
        fallback('b', '1/0', 50),
        fallback('a', '0/FF', 200),
      ],
      { maxLagBytes: MB },
    );
    expect(names(choice.ranked)).toEqual(['c', 'b', 'e', 'a']);
  });

  it('never chooses one with priority 0, nor an unhealthy one, and says why', () => {
    const choice = chooseCandidate(
      [
        fallback('b', '5/0', 0),
        fallback('c', '6/0', 50, false, 'server down'),
        fallback('d', '6/0', 50, false),
        fallback('e', '1/0', 10),
      ],
      { maxLagBytes: MB, force: true },
    );
    expect(choice.chosen?.name).toBe('e');
    expect(choice.excluded).toEqual([
      { name: 'b', reason: 'b has priority 0 (never chosen)' },
      { name: 'c', reason: 'c is not healthy: server down' },
      { name: 'd', reason: 'd is not healthy' },
    ]);
  });

  it('leaves out one behind the archive by more than maxLagBytes unless forced', () => {
    const fallbacks = [
      fallback('b', '0/1000000', 100),
      fallback('c', '0/2000000', 10),
      fallback('d', '0/2FFFFFF', 10),
    ];
    const archiveLsn = '0/3000000'; // b is 32 MiB behind, c 16 MiB, d 1 byte
    const choice = chooseCandidate(fallbacks, { archiveLsn, maxLagBytes: 16 * MB });
    expect(names(choice.ranked)).toEqual(['d', 'c']);
    expect(choice.excluded).toEqual([
      { name: 'b', reason: 'b is behind the archive by 33554432 bytes (more than maxLagBytes 16777216)' },
    ]);

    const strict = chooseCandidate(fallbacks, { archiveLsn, maxLagBytes: 0 });
    expect(names(strict.ranked)).toEqual([]);
    expect(strict.chosen).toBeUndefined();
    expect(strict.excluded.map((e) => e.name)).toEqual(['b', 'c', 'd']);

    const forced = chooseCandidate(fallbacks, { archiveLsn, maxLagBytes: 0, force: true });
    expect(names(forced.ranked)).toEqual(['d', 'c', 'b']);
    expect(forced.excluded).toEqual([]);
  });

  it('counts one ahead of the archive (streaming from the active) as not behind', () => {
    const choice = chooseCandidate([fallback('b', '0/5000000')], { archiveLsn: '0/3000000', maxLagBytes: 0 });
    expect(choice.chosen?.name).toBe('b');
  });

  it('leaves out one with no known position when the archive end is known, unless forced; ranks it last', () => {
    const fallbacks = [
      fallback('b', undefined, 100),
      fallback('c', 'not an lsn', 100),
      fallback('d', '0/10', 1),
    ];
    const choice = chooseCandidate(fallbacks, { archiveLsn: '0/10', maxLagBytes: MB });
    expect(names(choice.ranked)).toEqual(['d']);
    expect(choice.excluded).toEqual([
      { name: 'b', reason: 'b has reported no replayed position' },
      { name: 'c', reason: 'c has reported no replayed position' },
    ]);
    const forced = chooseCandidate(fallbacks, { archiveLsn: '0/10', maxLagBytes: MB, force: true });
    expect(names(forced.ranked)).toEqual(['d', 'b', 'c']);
    // The archive's end unknown: lag cannot be measured, so none is left out for it.
    expect(names(chooseCandidate(fallbacks, { maxLagBytes: 0 }).ranked)).toEqual(['d', 'b', 'c']);
  });

  it('chooses none from none', () => {
    expect(chooseCandidate([], { maxLagBytes: MB })).toEqual({ chosen: undefined, ranked: [], excluded: [] });
  });
});
