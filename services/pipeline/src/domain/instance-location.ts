import type { ComponentConfig } from '../config/schema.js';
import type { InstanceLocation } from '../recipe.js';

/** The configured location of `instance` of a component, or undefined when the config has no such instance. */
export function instanceLocation(component: ComponentConfig, instance: string): InstanceLocation | undefined {
  const found = component.instances.find((candidate) => candidate.name === instance);
  if (found === undefined) return undefined;
  return { name: found.name, host: found.host, port: found.port, dataDir: found.dataDir };
}
