import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { activateFallback } from '../takeover/activate-fallback.js';
import { cliTakeoverIo } from '../takeover/cli-takeover-io.js';

export interface ImportActivateOptions {
  readonly config?: string;
  readonly force?: boolean;
}

/**
 * `pullback import <instance> --activate`: makes fallback INSTANCE the active by hand
 * (takeover/activate-fallback.ts, which the dashboard's action calls too).
 */
export async function importActivate(
  instance: string,
  options: ImportActivateOptions,
  context: CommandContext,
): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  await activateFallback(
    { config, configPath: path, instance, ...(options.force ? { force: true } : {}), by: 'cli' },
    cliTakeoverIo(context),
  );
}
