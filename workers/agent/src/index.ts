/** The per-instance agent (`pullback up --instance NAME`): docs/election.md. */

export { type ActiveStartOptions, startActiveWhileRecorded } from './active-start.js';
export { openAgentRegistry } from './agent-registry.js';
export { type AgentRuntime, type AgentRuntimeOptions, startAgentRuntime } from './agent-runtime.js';
export {
  type AgentServer,
  type AgentServerOptions,
  type HealthBody,
  type InstanceView,
  type StoppedServer,
  startAgentServer,
} from './agent-server.js';
export { type EpochFollowerOptions, followNewerActive, startEpochFollower } from './epoch-follower.js';
export {
  type CompareAndSetResult,
  type EpochProposal,
  type EpochRecord,
  EpochRecordStore,
  epochRecordPath,
  readEpochRecord,
  refusalOf,
} from './epoch-record.js';
export { askFailsafe, type FallbackAgent } from './failsafe-asker.js';
export { type FailsafeGrant, FailsafePromises, type MonotonicClock } from './failsafe-promises.js';
export { type FallbackStartOptions, startFallbackUnderImportLock } from './fallback-start.js';
export { type HeartbeatOptions, startHeartbeat } from './heartbeat.js';
export { localInstanceView } from './instance-view.js';
export { type KeeperTimings, PermissionKeeper, type PermissionKeeperOptions } from './permission-keeper.js';
export { type LocalServerSettings, type RejoinOptions, rejoinAsFallback } from './rejoin.js';
export { ServerSupervisor, type ServerSupervisorOptions, type WantedServer } from './server-supervisor.js';
export { DEFAULT_FAILSAFE_MS, resolveAgentToken, type StartAgentOptions, startAgent } from './start-agent.js';
