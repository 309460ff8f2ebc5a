import type { LogFormat } from '@pullback/pipeline/log';
import type { ArchiveFlags } from '../archive-access.js';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { DashboardSource } from '../dashboard/dashboard-data.js';
import { startDashboardServer } from '../dashboard/dashboard-server.js';
import { resolveDashboardToken } from '../dashboard/dashboard-token.js';
import { openArchiveFromFlags } from '../open-archive.js';
import { openProcessLogger } from '../process-logger.js';
import { openReachablePipeline } from '../reach-redis.js';
import { configTakeover } from '../takeover/config-takeover.js';
import { announcer } from '../up-logging.js';

export interface DashboardOptions extends ArchiveFlags {
  readonly logFormat?: LogFormat;
  readonly port: number;
  readonly host: string;
  readonly interval: number;
}

/** `pullback dashboard`: serves the page (docs/dashboard.md) until SIGINT/SIGTERM. */
export async function dashboard(options: DashboardOptions, context: CommandContext): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  // Read first, so the logger redacts it as well (its file's token is not in the config).
  const token = await resolveDashboardToken(config);
  const logging = await openProcessLogger(
    { ...options, config, secrets: token === undefined ? [] : [token] },
    context,
  );
  const takeover = await configTakeover(config, path, token, context.env, context.signal, logging.logger);
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
    announcer(
      logging,
      context,
    )(
      `dashboard on ${server.url} (refreshes every ${options.interval} s); stop with Ctrl-C (SIGINT) or SIGTERM`,
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
