import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption, jsonOption } from '../options.js';
import { examples } from './help-text.js';

export function registerStatusCommand(program: Command, context: CommandContext): void {
  program
    .command('status')
    .summary('components, instances, lag and last snapshots')
    .description(
      "Show each component's active and fallbacks, how far behind each fallback is, the last snapshot and the epoch. Needs Redis.",
    )
    .addOption(jsonOption())
    .addOption(configOption())
    .addHelpText('after', examples('pullback status', 'pullback status --json'))
    .action(async (options) => (await import('../actions/status.js')).status(options, context));
}
