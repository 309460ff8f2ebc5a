import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { openReachablePipeline } from '../reach-redis.js';
import { renderStatus } from '../status-view.js';

export interface StatusOptions {
  readonly config?: string;
  readonly json?: boolean;
}

/** `pullback status`: each component's active, fallbacks, their positions and the last snapshot. */
export async function status(options: StatusOptions, context: CommandContext): Promise<void> {
  const { config } = await loadCliConfig(options.config, context.env);
  const pipeline = await openReachablePipeline(config.redis);
  try {
    const current = await pipeline.readStatus();
    context.stdout.write(options.json ? `${JSON.stringify(current, null, 2)}\n` : renderStatus(current));
  } finally {
    await pipeline.close();
  }
}
