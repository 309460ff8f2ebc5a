import { type Duration, isZeroDuration, parseDuration } from './duration.js';
import { RetentionPolicyError } from './policy-error.js';

/**
 * Which snapshots `forget` keeps, after restic's policy. Every rule is optional, and a
 * count of 0 is the same as leaving the rule out. A snapshot is kept when any rule
 * keeps it. Periods are calendar periods in UTC. The keys match the config file's
 * `retention` section.
 */
export interface RetentionPolicy {
  /** Keep the newest N snapshots. Default: no such rule. */
  readonly keepLast?: number;
  /** Keep the newest snapshot of each of the N most recent hours that have one. Default: no such rule. */
  readonly keepHourly?: number;
  /** Keep the newest snapshot of each of the N most recent days that have one. Default: no such rule. */
  readonly keepDaily?: number;
  /**
   * Keep the newest snapshot of each of the N most recent ISO weeks (Monday to Sunday)
   * that have one. Default: no such rule.
   */
  readonly keepWeekly?: number;
  /** Keep the newest snapshot of each of the N most recent months that have one. Default: no such rule. */
  readonly keepMonthly?: number;
  /** Keep the newest snapshot of each of the N most recent years that have one. Default: no such rule. */
  readonly keepYearly?: number;
  /**
   * Keep every snapshot newer than this span before the newest snapshot (not before
   * now, so an archive whose backups stopped is not emptied by the passing of time),
   * e.g. `7d`; see `Duration` for the syntax. Default: no such rule.
   */
  readonly keepWithin?: string;
}

/** The counted rules, in the order their reasons are reported. */
export const COUNTED_RULES = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type CountedRule = (typeof COUNTED_RULES)[number];

/** A policy checked and parsed; zero counts and zero spans are dropped. */
export interface CheckedPolicy {
  readonly counts: ReadonlyMap<CountedRule, number>;
  readonly within: Duration | undefined;
}

const FIELDS: Record<CountedRule, keyof RetentionPolicy> = {
  last: 'keepLast',
  hourly: 'keepHourly',
  daily: 'keepDaily',
  weekly: 'keepWeekly',
  monthly: 'keepMonthly',
  yearly: 'keepYearly',
};

/**
 * Checks `policy`, throwing a `RetentionPolicyError` for a count that is not a whole
 * number of 0 or more or a span that is not a duration.
 */
export function checkPolicy(policy: RetentionPolicy): CheckedPolicy {
  const counts = new Map<CountedRule, number>();
  for (const rule of COUNTED_RULES) {
    const value: unknown = policy[FIELDS[rule]];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new RetentionPolicyError(
        `keep-${rule}`,
        `${describe(value)} is not a count; use a whole number, 0 or more`,
      );
    }
    if (value > 0) counts.set(rule, value);
  }
  const duration = policy.keepWithin === undefined ? undefined : parseDuration(policy.keepWithin);
  return { counts, within: duration === undefined || isZeroDuration(duration) ? undefined : duration };
}

/** True when `policy` has no rule at all, which restic and we read as "keep everything". */
export function isEmptyPolicy(policy: CheckedPolicy): boolean {
  return policy.counts.size === 0 && policy.within === undefined;
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}
