import { type Command, Option } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption, jsonOption, parseSeconds } from '../options.js';
import { examples } from './help-text.js';

export function registerStatusCommand(program: Command, context: CommandContext): void {
  program
    .command('status')
    .summary('components, instances, lag, last snapshots, leader and activations')
    .description(
      "Show the election leader; per component the active, its epoch and lease, the clients' multi-host connection string, the last snapshot, how far behind each fallback is, each instance's agent and the newest activations. Needs Redis.",
    )
    .addOption(jsonOption())
    .addOption(
      new Option(
        '--watch',
        'redraw every few seconds until Ctrl-C (on a terminal over the last frame, else one frame after another)',
      ).conflicts('json'),
    )
    .addOption(
      new Option('--interval <S>', 'seconds between frames of --watch (default: 2)').argParser(parseSeconds),
    )
    .addOption(configOption())
    .addHelpText(
      'after',
      examples('pullback status', 'pullback status --json', 'pullback status --watch --interval 5'),
    )
    .action(async (options) => (await import('../actions/status.js')).status(options, context));
}
