import type { ComponentConfig } from '@pullback/pipeline';
import { agentAddress } from './agent-addresses.js';
import type { AgentClient } from './agent-client.js';

/**
 * The highest epoch recorded outside Redis (docs/election.md "The epoch"): on every
 * agent of `component` that answers `GET /epoch`, and in the archive's snapshots when
 * `archiveEpoch` is given. A Redis restarted empty then never hands out an epoch
 * already used. Agents that do not answer are skipped: the epoch compare-and-set on
 * the instances refuses an epoch they have seen anyway.
 */
export async function highestRecordedEpoch(
  component: ComponentConfig,
  agents: AgentClient,
  archiveEpoch?: () => Promise<number | undefined>,
): Promise<number> {
  const reads = component.instances.map(async (instance) => {
    const address = agentAddress(instance);
    if (address === undefined) return 0;
    return agents.epoch(address).then(
      (record) => record?.epoch ?? 0,
      () => 0,
    );
  });
  const epochs = await Promise.all([...reads, archiveEpoch?.().then((epoch) => epoch ?? 0) ?? 0]);
  return Math.max(0, ...epochs);
}
