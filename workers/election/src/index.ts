/** The activation's real effects, shared by `pullback import --activate` and the election (docs/election.md). */

export { resolveAgentToken } from '@pullback/worker-agent';
export { type ActivationEffectsOptions, activationEffects } from './activation-effects.js';
export {
  type ActivationRequestOptions,
  DEFAULT_MAX_LAG_BYTES,
  fallbackOf,
  readActivationRequest,
} from './activation-request.js';
export { type ActiveHealth, activeHealth } from './active-health.js';
export { agentAddress, findInstance } from './agent-addresses.js';
export {
  type AgentAddress,
  AgentClient,
  type AgentClientOptions,
  type AgentEpochRecord,
} from './agent-client.js';
export { type ElectionOptions, type RunningElection, startElection } from './election-worker.js';
export { highestRecordedEpoch } from './epoch-floor.js';
export { type FailoverOptions, type FailoverOutcome, failover } from './failover.js';
export { LeaderLease, type LeaderLeaseOptions } from './leader-lease.js';
export { recordedActive, recordedOutsideRedis } from './recorded-actives.js';
export { type Rejoined, rejoinOldActive } from './rejoin-old-active.js';
export { replayedLsn } from './replayed-lsn.js';
export { repointFallback } from './repoint-fallback.js';
export { runFence } from './run-fence.js';
export { type SwitchoverEffectsOptions, switchoverEffects } from './switchover-effects.js';
export {
  readSwitchoverRequest,
  type SwitchoverRequest,
  type SwitchoverRequestOptions,
} from './switchover-request.js';
export { readWitnesses, type Witnesses } from './witnesses.js';
