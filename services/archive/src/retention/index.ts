export {
  applyRetention,
  type DatedSnapshot,
  type KeepReason,
  type KeptSnapshot,
  type RetentionPlan,
} from './apply-retention.js';
export { type Duration, isZeroDuration, parseDuration, subtractDuration } from './duration.js';
export { type CheckedPolicy, checkPolicy, isEmptyPolicy, type RetentionPolicy } from './policy.js';
export { RetentionPolicyError } from './policy-error.js';
export { isoWeek } from './time-buckets.js';
