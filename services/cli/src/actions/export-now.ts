import { checkExportKind } from '@pullback/pipeline';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { openReachablePipeline } from '../reach-redis.js';

export interface ExportNowOptions {
  readonly config?: string;
  readonly logical?: boolean;
  /** Physical: read everything, whatever the agent's record of the previous export. */
  readonly full?: boolean;
}

/** `pullback export <component> [--logical] --now`: queues an export job now, outside the schedule. */
export async function exportNow(
  component: string,
  options: ExportNowOptions,
  context: CommandContext,
): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  const componentConfig = config.components[component];
  if (componentConfig === undefined) {
    throw new CliError(
      `no component ${component} in ${path} (it has: ${Object.keys(config.components).join(', ') || 'none'})`,
    );
  }
  const kind = options.logical ? 'logical' : 'physical';
  checkExportKind(component, componentConfig, kind);
  const what = options.logical ? 'logical export' : 'export';
  const pipeline = await openReachablePipeline(config.redis);
  try {
    const result = await pipeline.exportNow(component, {
      kind,
      ...(options.full === true ? { full: true } : {}),
    });
    context.stdout.write(
      result.created
        ? `${what} of ${component} queued: job ${result.jobId}, epoch ${result.epoch}\n`
        : `a ${what} of ${component} was already queued: job ${result.jobId}, epoch ${result.epoch}; it stands\n`,
    );
  } finally {
    await pipeline.close();
  }
}
