import type { ComponentConfig, Registry } from '@pullback/pipeline';
import { query } from '@pullback/recipe-postgres';
import { agentAddress, findInstance } from './agent-addresses.js';
import type { AgentClient } from './agent-client.js';

/** Whether a component's active still runs as the active, and the first sign of it. */
export type ActiveHealth = { readonly healthy: true; readonly why: string } | { readonly healthy: false };

/**
 * Whether the active `active` of `component` is healthy, for an activation by hand
 * (`import --activate` refuses then, unless forced): its active lease is held, its
 * agent answers `/primary`, or its server answers that it takes writes. The last is
 * asked too because a server can take writes with no lease or agent watching it.
 */
export async function activeHealth(options: {
  readonly registry: Registry;
  readonly component: string;
  readonly config: ComponentConfig;
  readonly active: string;
  readonly agents: AgentClient;
  readonly user?: string;
}): Promise<ActiveHealth> {
  const { registry, component, active } = options;
  const lease = await registry.activeLease(component);
  if (lease !== undefined)
    return { healthy: true, why: `its active lease is held (${lease.instance}@${lease.epoch})` };
  const instance = findInstance(options.config, active);
  if (instance === undefined) return { healthy: false };
  const agent = agentAddress(instance);
  if (agent !== undefined && (await options.agents.health(agent, '/primary')) === 200) {
    return { healthy: true, why: 'its agent answers that it is the primary' };
  }
  const inRecovery = await query(
    { host: instance.host, port: instance.port, user: options.user ?? 'postgres' },
    'select pg_is_in_recovery()',
    { statementTimeoutMs: 3000, signal: AbortSignal.timeout(5000) },
  ).catch(() => undefined);
  if (inRecovery === 'f') return { healthy: true, why: 'its server takes writes' };
  return { healthy: false };
}
