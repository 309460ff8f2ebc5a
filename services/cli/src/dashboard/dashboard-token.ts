import { readFile } from 'node:fs/promises';
import type { Config } from '@pullback/pipeline';
import { CliError } from '../errors.js';

/**
 * The token that logs in to the dashboard's takeover actions: the config's
 * `dashboardToken`, or the first line of `dashboardTokenFile`; undefined when neither
 * is set (the page is read-only). Never quoted in a message: it is a secret.
 */
export async function resolveDashboardToken(
  config: Pick<Config, 'dashboardToken' | 'dashboardTokenFile'>,
): Promise<string | undefined> {
  if (config.dashboardToken !== undefined) return config.dashboardToken;
  const file = config.dashboardTokenFile;
  if (file === undefined) return undefined;
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot read dashboardTokenFile ${file}: ${error.code ?? error.message}`);
  });
  const token = text.split('\n')[0]?.trim() ?? '';
  if (token.length < 16)
    throw new CliError(`dashboardTokenFile ${file} holds no token of at least 16 characters`);
  return token;
}
