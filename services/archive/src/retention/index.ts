export {
  applyRetention,
  type DatedSnapshot,
  type KeepReason,
  type KeptSnapshot,
  type RetentionPlan,
} from './apply-retention.js';
export { DURATION_HELP, type Duration, isZeroDuration, parseDuration, subtractDuration } from './duration.js';
export {
  type CheckedPolicy,
  COUNT_FIELDS,
  checkPolicy,
  isEmptyPolicy,
  RETENTION_FIELDS,
  RETENTION_OPTIONS,
  type RetentionCountField,
  type RetentionPolicy,
} from './policy.js';
export { RetentionPolicyError } from './policy-error.js';
export { isoWeek } from './time-buckets.js';
