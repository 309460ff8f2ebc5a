import type { Config } from '@pullback/pipeline';
import type { Logger } from '@pullback/pipeline/log';
import type { TakeoverOptions } from '../dashboard/dashboard-takeover.js';
import { knownSecrets } from '../dashboard/secret-redactor.js';
import { activateFallback } from './activate-fallback.js';
import { switchOver } from './switch-over.js';
import type { TakeoverIo } from './takeover-io.js';

/**
 * The dashboard's takeover (docs/observability.md) for a config: its login token and
 * the same functions as `import --activate` and `switchover`; and every secret the
 * page must never show, `token` (resolveDashboardToken) among them. One place
 * for `pullback dashboard` and `pullback up`'s page. Each action, who asked it and
 * every line it says also go to the process's log: the page shows them only to the
 * operator who asked.
 */
export async function configTakeover(
  config: Config,
  configPath: string,
  token: string | undefined,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  logger?: Logger,
): Promise<TakeoverOptions> {
  const secrets = [...new Set([...knownSecrets(config, env), ...(token === undefined ? [] : [token])])];
  return {
    token,
    secrets,
    signal,
    actions: {
      activate: (request, io) => {
        const log = logger?.child({ instance: request.instance });
        log?.info(`takeover: activate ${request.instance}, asked by ${request.by}`);
        return refusalLogged(activateFallback({ ...request, config, configPath }, logged(io, log)), log);
      },
      switchover: (request, io) => {
        const log = logger?.child({ component: request.component });
        log?.info(`takeover: switchover of ${request.component}, asked by ${request.by}`);
        return refusalLogged(switchOver({ ...request, config, configPath }, logged(io, log)), log);
      },
    },
  };
}

/** `io`, each line also written to `log`. */
function logged(io: TakeoverIo, log: Logger | undefined): TakeoverIo {
  if (log === undefined) return io;
  return {
    signal: io.signal,
    say: (line) => {
      log.info(line);
      io.say(line);
    },
    warn: (line) => {
      log.warn(line);
      io.warn(line);
    },
  };
}

/** `action`, its refusal (one line) also written to `log`. */
function refusalLogged(action: Promise<void>, log: Logger | undefined): Promise<void> {
  return action.catch((error: unknown) => {
    log?.warn(`takeover refused: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  });
}
