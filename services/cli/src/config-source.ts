import type { Config } from '@pullback/pipeline/config';
import { ConfigError } from '@pullback/pipeline/config/flags';
import { rememberSecrets } from './process-secrets.js';

/** The config loader (YAML parser, schema) is loaded only by commands that read a config. */
const configModule = () => import('@pullback/pipeline/config');

/** A loaded config and the file it came from. */
export interface LoadedConfig {
  readonly config: Config;
  readonly path: string;
}

/**
 * Loads the config the command line points at (--config, else PULLBACK_CONFIG,
 * else ./pullback.yaml). When none was named and ./pullback.yaml is missing, the
 * error says how to name one.
 */
export async function loadCliConfig(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<LoadedConfig> {
  const { loadConfig, locateConfig } = await configModule();
  const { path, source } = locateConfig(explicit, env);
  try {
    return remembered({ config: await loadConfig(path), path }, env);
  } catch (error) {
    if (error instanceof ConfigError && error.kind === 'missing-file' && source === 'default') {
      throw new ConfigError(
        [`${path}: no such file (pass --config FILE or set PULLBACK_CONFIG)`],
        error.kind,
      );
    }
    throw error;
  }
}

/**
 * Loads the config when one was named (flag or environment) or ./pullback.yaml
 * exists; undefined otherwise. For commands that can also run without a config.
 */
export async function loadOptionalConfig(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv,
): Promise<LoadedConfig | undefined> {
  const { loadConfig, locateConfig } = await configModule();
  const { path, source } = locateConfig(explicit, env);
  try {
    return remembered({ config: await loadConfig(path), path }, env);
  } catch (error) {
    if (error instanceof ConfigError && error.kind === 'missing-file' && source === 'default')
      return undefined;
    throw error;
  }
}

/** Every error this process prints is redacted of the config's secrets (run.ts). */
function remembered(loaded: LoadedConfig, env: NodeJS.ProcessEnv): LoadedConfig {
  rememberSecrets(loaded.config, env);
  return loaded;
}
