/**
 * The registry's Redis keys, all under `<prefix>:registry:` so that several
 * pipelines (tests, or two deployments sharing a Redis) never collide. BullMQ's own
 * keys sit beside them, under `<prefix>:<queue>:`.
 */
export interface RegistryKeys {
  /** STRING: when the registry was registered; absent once Redis lost it (see `Registry.markRegistered`). */
  readonly registered: string;
  /** SET of component names. */
  readonly components: string;
  /** HASH: recipe, schedule, outbox, epoch, active, createdAt, lastExport, lastSnapshot, lastLogicalSnapshot, walReceiver, walGaps (JSON). */
  component(component: string): string;
  /** SET of the component's instance names. */
  instances(component: string): string;
  /** HASH: component, role, epoch, host, port, dataDir, priority, state (JSON), queuedSnapshotId, queuedSnapshotTime. */
  instance(instance: string): string;
  /** LIST of failure records (JSON), newest first, trimmed. */
  failures(component: string): string;
  /** HASH: snapshot id -> health record (JSON). */
  snapshotHealth(component: string): string;
  /** STRING: the token of the holder of lock `scope` (`export.<component>`, `import.<instance>`), with a TTL. */
  lock(scope: string): string;
  /** STRING: who runs (with a TTL) or ran the restore drill of a snapshot. */
  drill(snapshotId: string): string;
  /** STRING: the election worker that leads, with a TTL (docs/election.md). */
  readonly leader: string;
  /** STRING: `<instance>@<epoch>`, the component's active lease, with a TTL. */
  activeLease(component: string): string;
  /** HASH: report (JSON, `AgentReport`), receivedAt (ms, Redis's clock): an instance's agent heartbeat. */
  agent(instance: string): string;
  /** LIST of activation records (JSON), newest first, trimmed. */
  activations(component: string): string;
  /** STRING: how many activations the component has had (the list above is trimmed), for the metrics. */
  activationCount(component: string): string;
}

export const DEFAULT_PREFIX = 'pullback';

export function registryKeys(prefix: string = DEFAULT_PREFIX): RegistryKeys {
  const base = `${prefix}:registry`;
  return {
    registered: `${base}:registered`,
    components: `${base}:components`,
    component: (component) => `${base}:component:${component}`,
    instances: (component) => `${base}:instances:${component}`,
    instance: (instance) => `${base}:instance:${instance}`,
    failures: (component) => `${base}:failures:${component}`,
    snapshotHealth: (component) => `${base}:snapshot-health:${component}`,
    lock: (scope) => `${base}:lock:${scope}`,
    drill: (snapshotId) => `${base}:drill:${snapshotId}`,
    leader: `${base}:election-leader`,
    activeLease: (component) => `${base}:active-lease.${component}`,
    agent: (instance) => `${base}:agent:${instance}`,
    activations: (component) => `${base}:activations.${component}`,
    activationCount: (component) => `${base}:activation-count.${component}`,
  };
}
