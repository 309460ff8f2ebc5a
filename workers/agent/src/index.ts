/** The per-instance agent (`pullback up --instance NAME`): docs/election.md. */
export {
  type AgentServer,
  type AgentServerOptions,
  type HealthBody,
  type InstanceView,
  startAgentServer,
} from './agent-server.js';
export {
  type CompareAndSetResult,
  type EpochProposal,
  type EpochRecord,
  EpochRecordStore,
  epochRecordPath,
  readEpochRecord,
  refusalOf,
} from './epoch-record.js';
export { type FailsafeGrant, FailsafePromises, type MonotonicClock } from './failsafe-promises.js';
export { localInstanceView } from './instance-view.js';
export { DEFAULT_FAILSAFE_MS, resolveAgentToken, type StartAgentOptions, startAgent } from './start-agent.js';
