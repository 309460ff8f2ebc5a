import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { CliError } from '../errors.js';
import { EXIT_STATUS } from '../exit-status.js';
import { openReachablePipeline } from '../reach-redis.js';
import { renderStatus } from '../status-view.js';
import { watchStatus } from '../status-watch.js';

export interface StatusOptions {
  readonly config?: string;
  readonly json?: boolean;
  /** Redraw every `interval` seconds until SIGINT/SIGTERM. */
  readonly watch?: boolean;
  readonly interval?: number;
}

/** `pullback status`: each component's active, fallbacks, their positions and the last snapshot. */
export async function status(options: StatusOptions, context: CommandContext): Promise<void> {
  if (options.interval !== undefined && !options.watch) {
    throw new CliError('--interval is the pace of --watch; HINT: add --watch', EXIT_STATUS.usage);
  }
  const { config } = await loadCliConfig(options.config, context.env);
  const pipeline = await openReachablePipeline(config.redis);
  try {
    if (options.watch) {
      await watchStatus({
        frame: async () => renderStatus(await pipeline.readStatus()),
        intervalSeconds: options.interval ?? 2,
        stdout: context.stdout,
        signal: context.signal,
      });
      return;
    }
    const current = await pipeline.readStatus();
    context.stdout.write(options.json ? `${JSON.stringify(current, null, 2)}\n` : renderStatus(current));
  } finally {
    await pipeline.close();
  }
}
