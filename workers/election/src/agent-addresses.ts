import type { ComponentConfig, InstanceConfig } from '@pullback/pipeline';
import type { AgentAddress } from './agent-client.js';

/** Where `instance`'s agent is reached (its config's `agent`), or undefined when it has none. */
export function agentAddress(instance: InstanceConfig): AgentAddress | undefined {
  if (instance.agent === undefined) return undefined;
  const host = instance.agent.host ?? instance.host;
  return {
    instance: instance.name,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${instance.agent.port}`,
  };
}

/** The instance of `component` named `name`. */
export function findInstance(component: ComponentConfig, name: string): InstanceConfig | undefined {
  return component.instances.find((instance) => instance.name === name);
}
