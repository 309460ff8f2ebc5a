import type { ComponentConfig, Registry } from '@pullback/pipeline';

/**
 * The instance whose agent reports it active at `epoch` (its epoch record names it so)
 * in a heartbeat fresher than `agentSilentMs`, if one does. When the registry took that
 * epoch but names another active, the activation that took it recorded its candidate
 * on the instances and its naming in Redis was lost (Redis came back from a save made
 * before its last writes): the instances' records are what it did.
 */
export async function agentActiveAt(
  registry: Registry,
  component: ComponentConfig,
  epoch: number,
  agentSilentMs: number,
): Promise<string | undefined> {
  for (const instance of component.instances) {
    const heartbeat = await registry.agent(instance.name);
    if (heartbeat === undefined || heartbeat.ageMs > agentSilentMs) continue;
    if (heartbeat.role === 'active' && heartbeat.epoch === epoch) return instance.name;
  }
  return undefined;
}
