import type { Config } from '@pullback/pipeline';
import type { TakeoverOptions } from '../dashboard/dashboard-takeover.js';
import { resolveDashboardToken } from '../dashboard/dashboard-token.js';
import { knownSecrets } from '../dashboard/secret-redactor.js';
import { activateFallback } from './activate-fallback.js';
import { switchOver } from './switch-over.js';

/**
 * The dashboard's takeover (docs/observability.md) for a config: its login token and
 * the same functions as `import --activate` and `switchover`; and every secret the
 * page must never show, the token read from dashboardTokenFile among them. One place
 * for `pullback dashboard` and `pullback up`'s page.
 */
export async function configTakeover(
  config: Config,
  configPath: string,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
): Promise<TakeoverOptions> {
  const token = await resolveDashboardToken(config);
  const secrets = [...new Set([...knownSecrets(config, env), ...(token === undefined ? [] : [token])])];
  return {
    token,
    secrets,
    signal,
    actions: {
      activate: (request, io) => activateFallback({ ...request, config, configPath }, io),
      switchover: (request, io) => switchOver({ ...request, config, configPath }, io),
    },
  };
}
