import { hostname, userInfo } from 'node:os';
import { loadCliConfig } from '../config-source.js';
import type { CommandContext } from '../context.js';
import { cliTakeoverIo } from '../takeover/cli-takeover-io.js';
import { switchOver } from '../takeover/switch-over.js';

export interface SwitchoverOptions {
  readonly config?: string;
  readonly to?: string;
}

/**
 * `pullback switchover COMPONENT [--to NAME]`: the planned change of active
 * (takeover/switch-over.ts, which the dashboard's action calls too).
 */
export async function switchover(
  componentName: string,
  options: SwitchoverOptions,
  context: CommandContext,
): Promise<void> {
  const { config, path } = await loadCliConfig(options.config, context.env);
  await switchOver(
    {
      config,
      configPath: path,
      component: componentName,
      ...(options.to === undefined ? {} : { to: options.to }),
      by: whoSwitches(),
    },
    cliTakeoverIo(context),
  );
}

/** `<user>@<host>`, for the history; a uid with no name in the password database is given as its number. */
function whoSwitches(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = String(process.getuid?.() ?? 'unknown');
  }
  return `${user}@${hostname()}`;
}
