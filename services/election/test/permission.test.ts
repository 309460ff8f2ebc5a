import { describe, expect, it } from 'vitest';
import { leaseDeadline, PermissionClock, promiseDeadline } from '../src/index.js';

const TIMINGS = { activeLeaseMs: 3000, failsafeMs: 4000, clockMarginMs: 500 };

describe('permission clock', () => {
  it('measures the deadlines from when the request was sent, less the margin', () => {
    expect(leaseDeadline(10_000, TIMINGS)).toBe(12_500);
    expect(promiseDeadline(10_000, TIMINGS)).toBe(13_500);
  });

  it('holds by the lease until sent + activeLeaseMs - clockMarginMs, not a moment after', () => {
    const clock = new PermissionClock(TIMINGS, ['b']);
    expect(clock.at(0)).toEqual({ holds: false, reason: 'the active lease was never held' });
    clock.renewed(1000);
    expect(clock.at(1000)).toEqual({ holds: true, by: 'lease', until: 3500 });
    expect(clock.at(3499).holds).toBe(true);
    expect(clock.at(3500)).toEqual({
      holds: false,
      reason: 'the active lease lapsed and no live failsafe promise from b',
    });
  });

  it('a renewal answered late never shortens the deadline of a later one', () => {
    const clock = new PermissionClock(TIMINGS, ['b']);
    clock.renewed(2000);
    clock.renewed(1000); // sent before, answered after
    expect(clock.at(4000)).toEqual({ holds: true, by: 'lease', until: 4500 });
  });

  it('failsafe: holds past the lease while every fallback promise is live, and no longer', () => {
    const clock = new PermissionClock(TIMINGS, ['b', 'c']);
    clock.renewed(0); // lease until 2500
    clock.promised('b', 2000); // until 5500
    expect(clock.at(2600)).toMatchObject({ holds: false, reason: expect.stringContaining('from c') });
    clock.promised('c', 2600); // until 6100
    expect(clock.at(2600)).toEqual({ holds: true, by: 'failsafe', until: 5500 });
    expect(clock.at(5499).holds).toBe(true);
    expect(clock.at(5500)).toMatchObject({ holds: false, reason: expect.stringContaining('from b') });
    clock.promised('b', 5000);
    expect(clock.at(5500)).toEqual({ holds: true, by: 'failsafe', until: 6100 });
    // A promise from an instance that is not a fallback counts for nothing.
    clock.promised('x', 6000);
    expect(clock.at(6100).holds).toBe(false);
    // A renewal that gets through again restores the lease.
    clock.renewed(7000);
    expect(clock.at(7000)).toEqual({ holds: true, by: 'lease', until: 9500 });
  });

  it('failsafe only extends a lease once held', () => {
    const clock = new PermissionClock(TIMINGS, ['b']);
    clock.promised('b', 0);
    expect(clock.at(10).holds).toBe(false);
  });

  it('with no fallbacks, none can be elected: holds on once the lease was held', () => {
    const clock = new PermissionClock(TIMINGS, []);
    clock.renewed(0);
    expect(clock.at(1_000_000)).toEqual({ holds: true, by: 'failsafe', until: Number.POSITIVE_INFINITY });
  });

  it('a renewal Redis refused ends permission at once and for good, promises included', () => {
    const clock = new PermissionClock(TIMINGS, ['b']);
    clock.renewed(0);
    clock.promised('b', 0);
    clock.refused('the epoch of shop moved to 8');
    expect(clock.at(1)).toEqual({ holds: false, reason: 'the epoch of shop moved to 8' });
    clock.renewed(2);
    clock.promised('b', 2);
    clock.refused('another reason');
    expect(clock.at(3)).toEqual({ holds: false, reason: 'the epoch of shop moved to 8' });
  });
});
