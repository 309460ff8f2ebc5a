import type { ComponentConfig, Config, RecordedEpoch } from '@pullback/pipeline';
import { resolveAgentToken } from '@pullback/worker-agent';
import { agentAddress } from './agent-addresses.js';
import { AgentClient } from './agent-client.js';

/**
 * What the instances of `component` record (their agents' `GET /epoch`, docs/election.md
 * "The epoch"): the highest epoch any agent that answers has recorded, and the active
 * its record names at that epoch; undefined when none answers with a record.
 * Every record at one epoch names the same active: an activation records the same
 * pair on every agent, and no two activations take one epoch.
 */
export async function recordedActive(
  component: ComponentConfig,
  agents: AgentClient,
): Promise<{ epoch: number; active: string } | undefined> {
  const records = await Promise.all(
    component.instances.map(async (instance) => {
      const address = agentAddress(instance);
      return address === undefined ? undefined : agents.epoch(address).catch(() => undefined);
    }),
  );
  let highest: { epoch: number; active: string } | undefined;
  for (const record of records) {
    if (record !== undefined && record.epoch > (highest?.epoch ?? 0))
      highest = { epoch: record.epoch, active: record.active };
  }
  return highest;
}

/**
 * What a registry restored after Redis lost it must not fall behind
 * (`guardRegistry`'s `lowestEpochs`): per component, the highest of the epochs the
 * archive's snapshots record (`archiveEpochs`) and the instances record, with the active
 * the instances' records name when theirs is that highest one. The restored registry
 * then names the active the last activation recorded, not the config's: an activation
 * under way when Redis lost its data finishes at its own epoch (docs/election.md
 * "Redis lost its data"). Components without agents keep the archive's epoch alone.
 */
export async function recordedOutsideRedis(
  config: Config,
  archiveEpochs: Readonly<Record<string, number>> = {},
  agents?: AgentClient,
): Promise<Record<string, RecordedEpoch>> {
  const withAgents = Object.entries(config.components).filter(([, component]) =>
    component.instances.some((instance) => instance.agent !== undefined),
  );
  // No token (a config the agents cannot run with): the archive's epochs alone, still a restore.
  const agentToken =
    agents !== undefined || withAgents.length === 0
      ? undefined
      : await resolveAgentToken(config).catch(() => undefined);
  const client = agents ?? (agentToken === undefined ? undefined : new AgentClient({ agentToken }));
  const recorded: Record<string, RecordedEpoch> = { ...archiveEpochs };
  if (client === undefined) return recorded;
  await Promise.all(
    withAgents.map(async ([name, component]) => {
      const onInstances = await recordedActive(component, client);
      const archived = archiveEpochs[name] ?? 0;
      if (onInstances === undefined || onInstances.epoch < archived) return;
      recorded[name] = onInstances;
    }),
  );
  return recorded;
}
