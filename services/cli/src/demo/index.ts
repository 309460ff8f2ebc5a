/*
 * The demo's sandbox and cycle, for bench:pipeline (`@pullback/cli/demo`): the bench
 * measures what the demo shows, with the same code.
 */
export {
  type CycleResult,
  describeStages,
  runCycle,
  type StageRecord,
  stagesOfCycle,
  watchStages,
} from './cycle.js';
export {
  type DrillWriter,
  type HostDeath,
  isWritable,
  killActiveHost,
  rowsOn,
  startDrillWriter,
  waitStreaming,
  watchWritable,
  writableNow,
} from './failover.js';
export { type HostEndpoint, handOverToHosts, until } from './failover-ending.js';
export { type HostProcess, type SandboxHosts, sandboxHosts } from './hosts.js';
export {
  SANDBOX_COMPONENT,
  type Sandbox,
  type SandboxFallback,
  type SandboxOptions,
  type SandboxProcess,
  startSandbox,
} from './sandbox.js';
export { setWalSynchronous } from './wal-mode.js';
