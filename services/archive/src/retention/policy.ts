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

/** The policy's field of each counted rule. */
export const COUNT_FIELDS = {
  last: 'keepLast',
  hourly: 'keepHourly',
  daily: 'keepDaily',
  weekly: 'keepWeekly',
  monthly: 'keepMonthly',
  yearly: 'keepYearly',
} as const satisfies Record<CountedRule, keyof RetentionPolicy>;

/** A field of the policy that holds a count. */
export type RetentionCountField = (typeof COUNT_FIELDS)[CountedRule];

/**
 * Every field of the policy with its command-line option (the config file's key is
 * the field itself; the config schema is built from COUNT_FIELDS and `keepWithin`).
 * `satisfies` makes a field added to the policy but not here a compile error; `forget`
 * takes its policy out of its options by this list, and its test checks that each
 * option exists (services/cli/test/forget-retention.test.ts).
 */
export const RETENTION_OPTIONS = {
  keepLast: 'keep-last',
  keepHourly: 'keep-hourly',
  keepDaily: 'keep-daily',
  keepWeekly: 'keep-weekly',
  keepMonthly: 'keep-monthly',
  keepYearly: 'keep-yearly',
  keepWithin: 'keep-within',
} as const satisfies Record<keyof RetentionPolicy, string>;

export const RETENTION_FIELDS = Object.keys(RETENTION_OPTIONS) as readonly (keyof RetentionPolicy)[];

/**
 * Checks `policy`, throwing a `RetentionPolicyError` for a count that is not a whole
 * number of 0 or more or a span that is not a duration.
 */
export function checkPolicy(policy: RetentionPolicy): CheckedPolicy {
  const counts = new Map<CountedRule, number>();
  for (const rule of COUNTED_RULES) {
    const value: unknown = policy[COUNT_FIELDS[rule]];
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
