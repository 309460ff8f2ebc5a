/** Where the config was found, for messages ("pass --config FILE" only helps when it was not given). */
export type ConfigPathSource = 'flag' | 'env' | 'default';

export const DEFAULT_CONFIG_PATH = 'pullback.yaml';

/**
 * The config file to use: the `--config` flag, else `PULLBACK_CONFIG`, else
 * `./pullback.yaml` (docs/architecture.md, "Command line"). Empty values count as unset.
 */
export function resolveConfigPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  return locateConfig(explicit, env).path;
}

/** Like `resolveConfigPath`, also saying which of the three places it came from. */
export function locateConfig(
  explicit?: string,
  env: NodeJS.ProcessEnv = process.env,
): { readonly path: string; readonly source: ConfigPathSource } {
  if (explicit !== undefined && explicit !== '') return { path: explicit, source: 'flag' };
  const fromEnv = env.PULLBACK_CONFIG;
  if (fromEnv !== undefined && fromEnv !== '') return { path: fromEnv, source: 'env' };
  return { path: DEFAULT_CONFIG_PATH, source: 'default' };
}
