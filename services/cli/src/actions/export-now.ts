import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { openReachablePipeline } from '../reach-redis.js';

export interface ExportNowOptions {
  readonly config?: string;
  readonly full?: boolean;
}

/** `pullback export <component> --now`: queues an export job now, outside the schedule. */
export async function exportNow(
  component: string,
  options: ExportNowOptions,
  context: CommandContext,
): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  if (config.components[component] === undefined) {
    throw new CliError(
      `no component ${component} in ${path} (it has: ${Object.keys(config.components).join(', ') || 'none'})`,
    );
  }
  const pipeline = await openReachablePipeline(config.redis);
  try {
    const result = await pipeline.exportNow(component, options.full === true ? { full: true } : {});
    context.stdout.write(
      result.created
        ? `export of ${component} queued: job ${result.jobId}, epoch ${result.epoch}\n`
        : `an export of ${component} was already queued: job ${result.jobId}, epoch ${result.epoch}; it stands\n`,
    );
  } finally {
    await pipeline.close();
  }
}
