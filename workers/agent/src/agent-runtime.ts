import { ELECTION_DEFAULTS } from '@pullback/election';
import type { Config, InstanceConfig, Registry } from '@pullback/pipeline';
import { demoteServer, postmasterStatus, startServer } from '@pullback/recipe-postgres';
import { startActiveWhileRecorded } from './active-start.js';
import type { AgentServer, AgentServerOptions } from './agent-server.js';
import { startEpochFollower } from './epoch-follower.js';
import { EpochRecordStore, epochRecordPath } from './epoch-record.js';
import type { FallbackAgent } from './failsafe-asker.js';
import { FailsafePromises, type MonotonicClock } from './failsafe-promises.js';
import { startFallbackUnderImportLock } from './fallback-start.js';
import { startHeartbeat } from './heartbeat.js';
import { localInstanceView } from './instance-view.js';
import { type KeeperTimings, PermissionKeeper } from './permission-keeper.js';
import { type LocalServerSettings, rejoinAsFallback } from './rejoin.js';
import { CANNOT_START, ServerSupervisor, type WantedServer } from './server-supervisor.js';
import { findInstance, resolveAgentToken, startAgent } from './start-agent.js';

export interface AgentRuntimeOptions {
  /**
   * The registry, on a connection whose commands fail at once while Redis is away
   * (`enableOfflineQueue: false`): a renewal must not wait in a queue.
   */
  readonly registry: Registry;
  /** Default: docs/election.md "Defaults" (ELECTION_DEFAULTS). */
  readonly timings?: Partial<KeeperTimings>;
  /** How often the server is looked at, in ms. Default: 1000. */
  readonly superviseMs?: number;
  /** The first wait after a failed start, in ms. Default: 1000. */
  readonly restartBackoffMs?: number;
  /** How its server is reached and run when the agent rewinds it to rejoin (rejoin.ts). Default: the postgres recipe's. */
  readonly server?: LocalServerSettings;
  readonly clock?: MonotonicClock;
  readonly log?: (line: string) => void;
  /** What the agent's `GET /metrics` answers: its process's metrics. Default: no /metrics. */
  readonly metrics?: AgentServerOptions['metrics'];
}

export interface AgentRuntime {
  readonly agent: AgentServer;
  readonly keeper: PermissionKeeper;
  readonly supervisor: ServerSupervisor;
  /** Stops the agent's loops and its HTTP server; leaves its PostgreSQL as it is. */
  close(): Promise<void>;
}

/**
 * Everything an agent runs next to its instance (`pullback up --instance NAME`):
 * the HTTP endpoints (startAgent), the permission keeper (the active lease, failsafe
 * promises, demotion), the heartbeat and the supervision of its PostgreSQL.
 */
export async function startAgentRuntime(
  config: Config,
  instanceName: string,
  options: AgentRuntimeOptions,
): Promise<AgentRuntime> {
  const instance = findInstance(config, instanceName);
  const [componentName, component] = componentOf(config, instanceName);
  const timings: KeeperTimings = { ...ELECTION_DEFAULTS, ...options.timings };
  const agentToken = await resolveAgentToken(config);
  const record = new EpochRecordStore(epochRecordPath(config.stateDir, instance.name));
  const promises = new FailsafePromises(record, timings.failsafeMs, options.clock);
  const others = component.instances.filter((other) => other.name !== instance.name);
  const keeper = new PermissionKeeper({
    component: componentName,
    instance: instance.name,
    configRole: instance.role,
    registry: options.registry,
    record,
    fallbacks: others.map((other) => other.name),
    fallbackAgents: others.flatMap(agentOf),
    agentToken,
    timings,
    demote: () => demoteLocal(instance),
    veto: promises.veto,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  const baseView = localInstanceView(instance, record);
  const wanted = (): WantedServer => {
    if (keeper.runsAsActive()) return keeper.permission().holds ? 'active' : 'none';
    return roleNow === 'fallback' ? 'fallback' : 'none';
  };
  // The role the record (else the config) gives, as last seen; the supervisor asks often.
  let roleNow: 'active' | 'fallback' = instance.role;
  const refreshRole = async () => {
    const recorded = await record.read().catch(() => undefined);
    roleNow =
      recorded === undefined ? instance.role : recorded.active === instance.name ? 'active' : 'fallback';
  };
  await refreshRole();
  const startLocal = (dataDir: string) => startServer({ dataDir, timeoutSeconds: 120 });
  const startFallback = startFallbackUnderImportLock({
    instance: instance.name,
    registry: options.registry,
    start: startLocal,
  });
  const startActive = startActiveWhileRecorded({ instance: instance.name, record, start: startLocal });
  const supervisor = new ServerSupervisor({
    instance: instance.name,
    dataDir: instance.dataDir,
    wanted,
    // A fallback's directory may be an import's at that moment: started under its lock;
    // the active only while its record says so, under the record's lock.
    start: (dataDir) => (wanted() === 'fallback' ? startFallback(dataDir) : startActive(dataDir)),
    ...(options.superviseMs === undefined ? {} : { pollMs: options.superviseMs }),
    ...(options.restartBackoffMs === undefined ? {} : { backoffMs: options.restartBackoffMs }),
    rejoin: rejoinAsFallback({
      instance,
      instances: component.instances,
      record,
      registry: options.registry,
      ...(options.server === undefined ? {} : { server: options.server }),
    }),
    onUnhealthy: (reason) => reportUnhealthy(options.registry, componentName, instance.name, reason),
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  const agent = await startAgent(config, instance.name, {
    record,
    promises,
    view: async () => {
      await refreshRole();
      const view = await baseView();
      return { ...view, holdsPermission: view.role === 'active' && keeper.permission().holds };
    },
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.metrics === undefined ? {} : { metrics: options.metrics }),
  });
  keeper.start();
  supervisor.start();
  const follower = startEpochFollower({
    component: componentName,
    instance: instance.name,
    configRole: instance.role,
    registry: options.registry,
    record,
    veto: promises.veto,
    intervalMs: timings.renewMs,
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  const heartbeat = startHeartbeat({
    instance: instance.name,
    registry: options.registry,
    intervalMs: timings.renewMs,
    report: async () => {
      await refreshRole();
      const recorded = await record.read();
      return {
        role: roleNow,
        epoch: recorded?.epoch ?? 0,
        serverRunning: (await postmasterStatus(instance.dataDir)).running,
      };
    },
    ...(options.log === undefined ? {} : { log: options.log }),
  });
  return {
    agent,
    keeper,
    supervisor,
    close: async () => {
      await Promise.all([heartbeat.stop(), follower.stop(), supervisor.stop(), keeper.stop()]);
      await agent.close();
    },
  };
}

function componentOf(config: Config, instanceName: string) {
  const found = Object.entries(config.components).find(([, component]) =>
    component.instances.some((instance) => instance.name === instanceName),
  );
  if (found === undefined) throw new Error(`no instance ${JSON.stringify(instanceName)} in the config`);
  return found;
}

function agentOf(instance: InstanceConfig): FallbackAgent[] {
  if (instance.agent === undefined) return [];
  const host = instance.agent.host ?? instance.host;
  return [
    {
      instance: instance.name,
      url: `http://${host.includes(':') ? `[${host}]` : host}:${instance.agent.port}`,
    },
  ];
}

/** Demotes the instance's server if it runs (recipes/postgres demoteServer). */
async function demoteLocal(instance: InstanceConfig): Promise<void> {
  const status = await postmasterStatus(instance.dataDir);
  if (!status.running) return;
  await demoteServer({
    dataDir: instance.dataDir,
    endpoint: { host: status.socketDir ?? instance.host, port: status.port ?? instance.port },
  });
}

/**
 * A fallback that cannot start is unhealthy in the registry, with the reason (status
 * shows it). Once its server runs again (`reason` undefined), that report is replaced
 * by `starting`, a state the import role's position report refreshes: left as it was,
 * the fallback stayed unhealthy until an import reseeded it, though it streamed.
 */
async function reportUnhealthy(
  registry: Registry,
  component: string,
  instance: string,
  reason: string | undefined,
): Promise<void> {
  const record = await registry.instance(instance).catch(() => undefined);
  if (record === undefined || record.role !== 'fallback') return;
  const updatedAt = new Date().toISOString();
  if (reason === undefined) {
    const ours = record.state?.reason?.startsWith(`${CANNOT_START} ${instance}:`) === true;
    if (record.state === undefined || !ours) return;
    const running = { ...record.state, healthy: false, running: true, reason: 'starting', updatedAt };
    await registry
      .replaceFallbackState(component, instance, record.epoch, record.state, running)
      .catch(() => false);
    return;
  }
  const state = { ...record.state, healthy: false, running: false, reason, updatedAt };
  await (record.state === undefined
    ? registry.reportFallback(component, instance, record.epoch, state)
    : registry.replaceFallbackState(component, instance, record.epoch, record.state, state)
  ).catch(() => false);
}
