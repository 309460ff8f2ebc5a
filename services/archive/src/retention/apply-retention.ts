import { subtractDuration } from './duration.js';
import {
  COUNTED_RULES,
  type CountedRule,
  checkPolicy,
  isEmptyPolicy,
  type RetentionPolicy,
} from './policy.js';
import { type BucketKey, dayKey, hourKey, isoWeekKey, monthKey, yearKey } from './time-buckets.js';

/**
 * What retention needs of a snapshot; anything else it carries is passed through.
 * `time` may be a Date or an ISO 8601 string, as snapshot manifests store it.
 */
export interface DatedSnapshot {
  readonly id: string;
  readonly time: Date | string;
}

/** Why a snapshot is kept: the counted rule that picked it, or `within` for `keepWithin`. */
export type KeepReason = CountedRule | 'within';

export interface KeptSnapshot<T> {
  readonly snapshot: T;
  /** Every rule that keeps it, in the order last, hourly, daily, weekly, monthly, yearly, within. */
  readonly reasons: readonly KeepReason[];
}

export interface RetentionPlan<T> {
  /** The snapshots to keep, newest first. */
  readonly keep: readonly KeptSnapshot<T>[];
  /** The snapshots to forget, newest first. */
  readonly forget: readonly T[];
  /**
   * True when the policy has no rule (or only zeros): everything is kept, with no
   * reasons. A `forget` command should then refuse to run, as restic does, rather
   * than report that it applied a policy.
   */
  readonly policyEmpty: boolean;
}

// Every snapshot is its own bucket for keepLast.
const BUCKETS: Record<CountedRule, BucketKey | undefined> = {
  last: undefined,
  hourly: hourKey,
  daily: dayKey,
  weekly: isoWeekKey,
  monthly: monthKey,
  yearly: yearKey,
};

/**
 * Decides which of `snapshots` `policy` keeps, with restic's `forget` semantics. The
 * snapshots are walked newest first; a counted rule (say `keepDaily: 7`) keeps the
 * first snapshot it meets in each new day until it has kept 7, so it keeps the newest
 * snapshot of each of the 7 most recent days that have any (days without snapshots
 * are skipped, not counted). `keepWithin` keeps every snapshot strictly newer than
 * the newest snapshot's time less the span. Periods are in UTC.
 *
 * Apply it to one component's snapshots at a time: the caller groups.
 *
 * With a non-empty policy the newest snapshot is always kept (every rule keeps it).
 * Snapshots with equal times are ordered by id, descending, so the result does not
 * depend on the order of the input. Pure: no I/O, no clock.
 */
export function applyRetention<T extends DatedSnapshot>(
  snapshots: readonly T[],
  policy: RetentionPolicy,
): RetentionPlan<T> {
  const checked = checkPolicy(policy);
  // Times read once (and checked) up front; ties broken by id for a stable result.
  const newestFirst = snapshots
    .map((snapshot) => ({ snapshot, time: timeOf(snapshot) }))
    .sort((a, b) => b.time - a.time || compareIds(b.snapshot.id, a.snapshot.id));
  if (isEmptyPolicy(checked)) {
    return {
      keep: newestFirst.map(({ snapshot }) => ({ snapshot, reasons: [] })),
      forget: [],
      policyEmpty: true,
    };
  }

  const remaining = new Map(checked.counts);
  const lastKeys = new Map<CountedRule, string>();
  const newest = newestFirst[0];
  const cutoff =
    newest === undefined || checked.within === undefined
      ? undefined
      : subtractDuration(new Date(newest.time), checked.within).getTime();

  const keep: KeptSnapshot<T>[] = [];
  const forget: T[] = [];
  for (const { snapshot, time } of newestFirst) {
    const date = new Date(time);
    const reasons: KeepReason[] = [];
    for (const rule of COUNTED_RULES) {
      const left = remaining.get(rule) ?? 0;
      if (left === 0) continue;
      const key = BUCKETS[rule]?.(date);
      // Newest first, so a period's first snapshot is its newest; later ones in the
      // same period have the same key as the last one kept and are passed over.
      if (key !== undefined && key === lastKeys.get(rule)) continue;
      if (key !== undefined) lastKeys.set(rule, key);
      remaining.set(rule, left - 1);
      reasons.push(rule);
    }
    if (cutoff !== undefined && time > cutoff) reasons.push('within');
    if (reasons.length > 0) keep.push({ snapshot, reasons });
    else forget.push(snapshot);
  }
  return { keep, forget, policyEmpty: false };
}

/** The snapshot's time in ms since the epoch; throws when it is not a valid time. */
function timeOf(snapshot: DatedSnapshot): number {
  const time = typeof snapshot.time === 'string' ? Date.parse(snapshot.time) : snapshot.time.getTime();
  if (!Number.isFinite(time)) throw new TypeError(`snapshot ${snapshot.id} has no valid time`);
  return time;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
