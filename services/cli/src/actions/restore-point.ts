import { instanceLocation, type RedisConfig } from '@pullback/pipeline';
import { builtInRecipes } from '@pullback/workers';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { openReachablePipeline } from '../reach-redis.js';

export interface RestorePointOptions {
  readonly config?: string;
}

/** `pullback restore-point <component> <name>`: a named restore point on the active; prints its LSN. */
export async function restorePoint(
  component: string,
  name: string,
  options: RestorePointOptions,
  context: CommandContext,
): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  const componentConfig = config.components[component];
  if (componentConfig === undefined) {
    throw new CliError(
      `no component ${component} in ${path} (it has: ${Object.keys(config.components).join(', ') || 'none'})`,
    );
  }
  const recipe = builtInRecipes()(componentConfig);
  if (recipe.createRestorePoint === undefined) {
    throw new CliError(
      `component ${component} is of the ${componentConfig.recipe} recipe, which has no restore points`,
    );
  }
  const active = (await liveActive(component, config.redis)) ?? configuredActive(componentConfig.instances);
  const location = active === undefined ? undefined : instanceLocation(componentConfig, active);
  if (location === undefined) throw new CliError(`component ${component} has no active instance in ${path}`);
  const lsn = await recipe.createRestorePoint(location, name, { signal: context.signal });
  context.stdout.write(`restore point ${name} on ${location.name ?? active} at ${lsn}\n`);
}

/** The registry's live active (it moves on activation), when Redis answers; else undefined. */
async function liveActive(component: string, redis: RedisConfig): Promise<string | undefined> {
  const pipeline = await openReachablePipeline(redis).catch(() => undefined);
  if (pipeline === undefined) return undefined;
  try {
    return (await pipeline.registry.component(component))?.active;
  } finally {
    await pipeline.close();
  }
}

function configuredActive(instances: readonly { name: string; role: string }[]): string | undefined {
  return instances.find((instance) => instance.role === 'active')?.name;
}
