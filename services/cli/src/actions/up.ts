import { retryLine } from '@pullback/storage';
import { redactUrl } from '@pullback/storage/redact-url';
import { startAll } from '@pullback/workers';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { openReachablePipeline } from '../reach-redis.js';
import { setStopGraceMs } from '../stop-signals.js';

export interface UpOptions {
  readonly config?: string;
  readonly keyFile?: string;
}

/** `pullback up`: every worker in this process until SIGINT/SIGTERM (`context.signal`). */
export async function up(options: UpOptions, context: CommandContext): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  // Closing the workers waits for the jobs under way to stop: longer than a request.
  setStopGraceMs(30_000);
  // Fail with one line when Redis is not there, rather than workers waiting for it forever.
  await (await openReachablePipeline(config.redis)).close();
  const socketDir = context.env.PULLBACK_PG_SOCKET_DIR;
  const running = await startAll(config, {
    // The archive key in the order every command uses (resolveArchiveKey).
    ...(options.keyFile === undefined ? {} : { keyFile: options.keyFile }),
    env: context.env,
    signal: context.signal,
    ...(socketDir ? { postgres: { socketDir } } : {}),
    onError: (error, where) => context.stderr.write(`pullback: ${where}: ${error.message}\n`),
    onNotice: (line) => context.stdout.write(`pullback up: ${line}\n`),
    onStorageRetry: (event, location) => context.stderr.write(`pullback: ${retryLine(event, location)}\n`),
  });
  const say = (line: string) => context.stdout.write(`${line}\n`);
  say(
    `pullback up: config ${path}, redis ${redactUrl(config.redis)}, archive ${redactUrl(config.archive.url)}`,
  );
  for (const [name, component] of Object.entries(config.components)) {
    const active = component.instances.find((instance) => instance.role === 'active');
    const fallbacks = component.instances.filter((instance) => instance.role === 'fallback');
    say(
      `  export worker       ${name}: ${active === undefined ? `files at ${'path' in component ? component.path : '?'}` : `${active.name} (${active.host}:${active.port})`}, schedule "${component.schedule}"`,
    );
    say(`  pull-backup worker  ${name}: outbox ${component.outbox} -> archive`);
    for (const fallback of fallbacks) {
      say(
        `  import worker       ${name}: ${fallback.name} (${fallback.host}:${fallback.port}, ${fallback.dataDir})`,
      );
    }
  }
  say('running; stop with Ctrl-C (SIGINT) or SIGTERM');
  await running.closed;
  say('pullback up: stopped');
}
