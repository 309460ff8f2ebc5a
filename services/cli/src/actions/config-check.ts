import { type Config, ConfigError, loadConfig, locateConfig } from '@pullback/pipeline/config';
import type { CommandContext } from '../context.js';
import { SilentExit } from '../errors.js';

/**
 * `pullback config check [FILE]`: validates the config and prints a one-line
 * summary, or every problem, one per line, on stderr. The lines start with the
 * file name (not "pullback:") so that editors can jump to `file:line:column`.
 */
export async function configCheck(file: string | undefined, context: CommandContext): Promise<void> {
  const { path, source } = locateConfig(file, context.env);
  let config: Config;
  try {
    config = await loadConfig(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const lines =
      source === 'default' && error.kind === 'missing-file'
        ? [`${path}: no such file (name one: pullback config check FILE, or set PULLBACK_CONFIG)`]
        : error.lines;
    for (const line of lines) context.stderr.write(`${line}\n`);
    throw new SilentExit(1);
  }
  const components = Object.values(config.components);
  const instances = components.reduce((sum, component) => sum + component.instances.length, 0);
  context.stdout.write(
    `${path}: ok (${plural(components.length, 'component')}, ${plural(instances, 'instance')})\n`,
  );
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
