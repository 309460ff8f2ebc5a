import { describeRedis } from '@pullback/pipeline/config';
import type { LogFormat } from '@pullback/pipeline/log';
import { redactUrl } from '@pullback/storage/redact-url';
import { startAll, startInstance } from '@pullback/workers';
import { agentLog } from '../agent-log.js';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { DashboardSource } from '../dashboard/dashboard-data.js';
import { dashboardHandler } from '../dashboard/dashboard-server.js';
import { resolveDashboardToken } from '../dashboard/dashboard-token.js';
import type { Role } from '../options.js';
import { openProcessLogger, type ProcessLogger } from '../process-logger.js';
import { openReachablePipeline } from '../reach-redis.js';
import { setStopGraceMs } from '../stop-signals.js';
import { configTakeover } from '../takeover/config-takeover.js';
import { startUpHttpServer, type UpHttpServer } from '../up-http-server.js';
import { announcer, logPlumbing } from '../up-logging.js';

export interface UpOptions {
  readonly config?: string;
  readonly keyFile?: string;
  /** The roles to run (`--roles`); default all. */
  readonly roles?: readonly Role[];
  /** Run only what belongs next to this instance (`--instance`). */
  readonly instance?: string;
  /** `--log-format`; default human on a terminal, JSON otherwise. */
  readonly logFormat?: LogFormat;
}

/** `pullback up`: every worker in this process until SIGINT/SIGTERM (`context.signal`). */
export async function up(options: UpOptions, context: CommandContext): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  // The page's token is read first, so the logger redacts it as well (its file's token is
  // not in the config). An agent (`--instance`) serves no page, and its host need not hold the file.
  const token = options.instance === undefined ? await resolveDashboardToken(config) : undefined;
  const logging = await openProcessLogger(
    { ...options, config, secrets: token === undefined ? [] : [token] },
    context,
  );
  const { logger } = logging;
  // Closing the workers waits for the jobs under way to stop: longer than a request.
  setStopGraceMs(30_000);
  // Fail with one line when Redis is not there, rather than workers waiting for it forever.
  await (await openReachablePipeline(config.redis)).close();
  const socketDir = context.env.PULLBACK_PG_SOCKET_DIR;
  if (options.instance !== undefined)
    return upInstance(options.instance, { config, path }, options, context, logging);
  // The page's takeover is the same as `pullback dashboard`'s.
  const takeover = await configTakeover(config, path, token, context.env, context.signal, logger);
  // Bound before the workers start, so a port in use is refused with nothing started.
  let serve: Pick<Parameters<typeof startUpHttpServer>[0], 'metrics' | 'dashboard'> | undefined;
  const http: UpHttpServer | undefined =
    config.http === undefined
      ? undefined
      : await startUpHttpServer({
          ...config.http,
          metrics: async () => {
            if (serve === undefined) throw new Error('pullback up is starting');
            return serve.metrics();
          },
          dashboard: (request, response) => {
            if (serve?.dashboard !== undefined) serve.dashboard(request, response);
            else response.writeHead(503).end('pullback up is starting\n');
          },
        });
  const running = await startAll(config, {
    // The archive key in the order every command uses (resolveArchiveKey).
    ...(options.keyFile === undefined ? {} : { keyFile: options.keyFile }),
    env: context.env,
    ...(options.roles === undefined
      ? {}
      : {
          roles: {
            export: options.roles.includes('export'),
            pull: options.roles.includes('pull-backup'),
            import: options.roles.includes('import'),
            election: options.roles.includes('election'),
          },
        }),
    signal: context.signal,
    ...(socketDir ? { postgres: { socketDir } } : {}),
    ...logPlumbing(logger),
  }).catch(async (error: unknown) => {
    await http?.close();
    throw error;
  });
  // The dashboard reads what `pullback dashboard` reads: the registry, the queues, the archive's snapshot list.
  const source =
    running.archive === undefined
      ? undefined
      : new DashboardSource({
          pipeline: running.pipeline,
          archive: running.archive,
          secrets: takeover.secrets,
        });
  serve = {
    metrics: () => running.metrics.text(),
    ...(source === undefined
      ? {}
      : {
          dashboard: dashboardHandler({
            read: () => source.read(),
            host: config.http?.host,
            refreshSeconds: 5,
            takeover,
          }),
        }),
  };
  const say = announcer(logging, context);
  say(
    `pullback up: config ${path}, redis ${describeRedis(config.redis)}, archive ${redactUrl(config.archive.url)}`,
  );
  for (const [name, component] of Object.entries(config.components)) {
    const active = component.instances.find((instance) => instance.role === 'active');
    const fallbacks = component.instances.filter((instance) => instance.role === 'fallback');
    const runs = (role: Role) => options.roles === undefined || options.roles.includes(role);
    if (runs('export'))
      say(
        `  export worker       ${name}: ${active === undefined ? `files at ${'path' in component ? component.path : '?'}` : `${active.name} (${active.host}:${active.port})`}, schedule "${component.schedule}"`,
      );
    if (runs('pull-backup')) say(`  pull-backup worker  ${name}: outbox ${component.outbox} -> archive`);
    for (const fallback of runs('import') ? fallbacks : []) {
      say(
        `  import worker       ${name}: ${fallback.name} (${fallback.host}:${fallback.port}, ${fallback.dataDir})`,
      );
    }
  }
  if (running.election !== undefined) {
    say(
      `  election worker     ${running.election.holder}: watches each active, fails over to the best fallback`,
    );
  }
  if (http !== undefined) {
    say(
      `  http                ${http.url}metrics${source === undefined ? '' : `, dashboard at ${http.url}`}`,
    );
  }
  say('running; stop with Ctrl-C (SIGINT) or SIGTERM');
  await running.closed;
  await http?.close();
  source?.close();
  say('pullback up: stopped');
}

/** `pullback up --instance NAME`: the agent of one instance and its export and import roles. */
async function upInstance(
  name: string,
  { config, path }: Awaited<ReturnType<typeof loadCliConfig>>,
  options: UpOptions,
  context: CommandContext,
  logging: ProcessLogger,
): Promise<void> {
  const { logger } = logging;
  const socketDir = context.env.PULLBACK_PG_SOCKET_DIR;
  const log = agentLog(logger, config, name);
  const running = await startInstance(config, name, {
    ...(options.keyFile === undefined ? {} : { keyFile: options.keyFile }),
    env: context.env,
    signal: context.signal,
    ...(socketDir ? { postgres: { socketDir } } : {}),
    agent: { log },
    ...logPlumbing(logger),
  });
  const say = announcer(logging, context);
  say(`pullback up: config ${path}, redis ${describeRedis(config.redis)}, instance ${name}`);
  say(`  agent of ${name} at ${running.agent.agent.url} (/primary, /replica, /health, /metrics)`);
  say(`  export role while ${name} is the active, import role while it is a fallback`);
  say('running; stop with Ctrl-C (SIGINT) or SIGTERM');
  await running.closed;
  say('pullback up: stopped');
}
