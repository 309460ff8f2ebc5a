import { type Config, electionSettings } from '@pullback/pipeline';
import {
  type AgentRuntime,
  type AgentRuntimeOptions,
  openAgentRegistry,
  startAgentRuntime,
} from '@pullback/worker-agent';
import { type RunningPipeline, type StartAllOptions, startAll } from './start-all.js';

export interface StartInstanceOptions extends Omit<StartAllOptions, 'roles' | 'instances'> {
  /** The agent's timings and supervision. Default: docs/election.md "Defaults". */
  readonly agent?: Omit<AgentRuntimeOptions, 'registry'>;
}

export interface RunningInstance extends RunningPipeline {
  readonly agent: AgentRuntime;
}

/**
 * `pullback up --instance NAME`: what runs next to one instance on its host. Its
 * agent (endpoints, permission keeper, heartbeat, supervision of its PostgreSQL),
 * and the export and import roles filtered to it: the export worker exports only
 * while the instance is the live active, the import worker restores it only while it
 * is a fallback (each checks the live role).
 */
export async function startInstance(
  config: Config,
  instanceName: string,
  options: StartInstanceOptions = {},
): Promise<RunningInstance> {
  const running = await startAll(config, {
    ...options,
    roles: { export: true, pull: false, import: true, election: false },
    instances: [instanceName],
  });
  const connection = openAgentRegistry(
    config.redis,
    options.prefix === undefined ? {} : { prefix: options.prefix },
  );
  let agent: AgentRuntime;
  try {
    agent = await startAgentRuntime(config, instanceName, {
      // The rejoin sets up its server as the postgres recipe's imports do.
      ...(options.postgres === undefined ? {} : { server: options.postgres }),
      ...options.agent,
      // The config's `election:` timings, which the election counts on too (a heartbeat within agentSilentMs).
      timings: { ...electionSettings(config), ...options.agent?.timings },
      registry: connection.registry,
      metrics: () => running.metrics.text(),
    });
  } catch (error) {
    await connection.close();
    await running.close();
    throw error;
  }
  let agentClosing: Promise<void> | undefined;
  const closeAgent = () => {
    agentClosing ??= agent.close().then(() => connection.close());
    return agentClosing;
  };
  const closed = running.closed.then(closeAgent);
  return {
    ...running,
    agent,
    close: async (closeOptions) => {
      await closeAgent();
      await running.close(closeOptions);
    },
    closed,
  };
}
