/** Election and activation: pure logic (docs/election.md). */

export {
  type ActivationEffects,
  type ActivationRequest,
  type ActivationResult,
  activate,
  type LeaseStep,
  PROMISE_WAIT_MS,
  type RecordEpochAnswer,
  type StepOutcome,
} from './activation-plan.js';
export {
  type Choice,
  type ChooseOptions,
  chooseCandidate,
  type Exclusion,
  type Fallback,
} from './choose-candidate.js';
export { ELECTION_DEFAULTS, type ElectionTimings } from './defaults.js';
export { FailureDetector, type Observation, type Verdict, witnessesFailing } from './failure-detector.js';
export {
  leaseDeadline,
  type Permission,
  PermissionClock,
  type PermissionTimings,
  promiseDeadline,
} from './permission.js';
