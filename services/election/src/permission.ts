/** The timings the permission clock needs (docs/election.md "Defaults"). */
export interface PermissionTimings {
  readonly activeLeaseMs: number;
  readonly failsafeMs: number;
  readonly clockMarginMs: number;
}

/**
 * Until when a renewal of the active lease sent at `sentAt` (monotonic ms) gives
 * permission: measured from the sending, since Redis may have started the TTL any
 * time after it, and shortened by the margin for clocks that run at different rates.
 */
export function leaseDeadline(sentAt: number, timings: PermissionTimings): number {
  return sentAt + timings.activeLeaseMs - timings.clockMarginMs;
}

/** Until when a failsafe promise asked for at `sentAt` gives permission (as `leaseDeadline`). */
export function promiseDeadline(sentAt: number, timings: PermissionTimings): number {
  return sentAt + timings.failsafeMs - timings.clockMarginMs;
}

/** Whether the active may take writes now, and by what. */
export type Permission =
  | { readonly holds: true; readonly by: 'lease' | 'failsafe'; readonly until: number }
  | { readonly holds: false; readonly reason: string };

/**
 * The active agent's permission to take writes (docs/election.md "The safety rule"),
 * on its monotonic clock: the active lease until `leaseDeadline` of the last renewal
 * that succeeded, or, while Redis does not answer, a live failsafe promise from every
 * fallback (failsafe only extends a lease once held; with no fallbacks at all, none
 * can be elected and it holds). A renewal Redis refused (the epoch moved on, the lease names another)
 * ends permission at once, promises included: someone else is activating.
 */
export class PermissionClock {
  private leaseUntil = Number.NEGATIVE_INFINITY;
  private readonly promises = new Map<string, number>();
  private refusedBecause: string | undefined;

  /** `fallbacks`: every fallback of the component (with none, none can take over). */
  constructor(
    private readonly timings: PermissionTimings,
    private readonly fallbacks: readonly string[],
  ) {}

  /** A renewal sent at `sentAt` succeeded (or the lease was taken then). */
  renewed(sentAt: number): void {
    if (this.refusedBecause !== undefined) return;
    this.leaseUntil = Math.max(this.leaseUntil, leaseDeadline(sentAt, this.timings));
  }

  /** Fallback `name` granted a promise asked for at `sentAt`. */
  promised(name: string, sentAt: number): void {
    if (this.refusedBecause !== undefined || !this.fallbacks.includes(name)) return;
    this.promises.set(
      name,
      Math.max(this.promises.get(name) ?? Number.NEGATIVE_INFINITY, promiseDeadline(sentAt, this.timings)),
    );
  }

  /** Redis refused a renewal (`reason`, one line): permission is gone for good. */
  refused(reason: string): void {
    this.refusedBecause ??= reason;
    this.leaseUntil = Number.NEGATIVE_INFINITY;
    this.promises.clear();
  }

  /** The permission at `now` (monotonic ms). */
  at(now: number): Permission {
    if (this.refusedBecause !== undefined) return { holds: false, reason: this.refusedBecause };
    if (this.leaseUntil === Number.NEGATIVE_INFINITY)
      return { holds: false, reason: 'the active lease was never held' };
    if (now < this.leaseUntil) return { holds: true, by: 'lease', until: this.leaseUntil };
    const missing = this.fallbacks.filter(
      (name) => !(now < (this.promises.get(name) ?? Number.NEGATIVE_INFINITY)),
    );
    if (missing.length === 0) {
      const until = Math.min(
        ...this.fallbacks.map((name) => this.promises.get(name) ?? Number.POSITIVE_INFINITY),
      );
      return { holds: true, by: 'failsafe', until };
    }
    return {
      holds: false,
      reason: `the active lease lapsed and no live failsafe promise from ${missing.join(', ')}`,
    };
  }
}
