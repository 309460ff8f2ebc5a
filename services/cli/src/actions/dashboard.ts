import type { ArchiveFlags } from '../archive-access.js';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { DashboardSource } from '../dashboard/dashboard-data.js';
import { startDashboardServer } from '../dashboard/dashboard-server.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { openReachablePipeline } from '../reach-redis.js';
import { configTakeover } from '../takeover/config-takeover.js';

export interface DashboardOptions extends ArchiveFlags {
  readonly port: number;
  readonly host: string;
  readonly interval: number;
}

/** `pullback dashboard`: serves the page (docs/dashboard.md) until SIGINT/SIGTERM. */
export async function dashboard(options: DashboardOptions, context: CommandContext): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  const takeover = await configTakeover(config, path, context.env, context.signal);
  // The archive's key opens its sealed snapshot list; nothing else of the archive is read.
  const { archive } = await openArchiveFromFlags(options, context);
  const pipeline = await openReachablePipeline(config.redis);
  const source = new DashboardSource({ pipeline, archive, secrets: takeover.secrets });
  try {
    const server = await startDashboardServer({
      read: () => source.read(),
      port: options.port,
      host: options.host,
      refreshSeconds: options.interval,
      takeover,
    });
    context.stdout.write(
      `dashboard on ${server.url} (refreshes every ${options.interval} s); stop with Ctrl-C (SIGINT) or SIGTERM\n`,
    );
    await stopped(context.signal);
    await server.close();
  } finally {
    source.close();
    await pipeline.close();
  }
}

function stopped(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
