import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption, keyFileOption } from '../options.js';
import { examples } from './help-text.js';

export function registerUpCommand(program: Command, context: CommandContext): void {
  program
    .command('up')
    .summary('every worker in one process')
    .description(
      "Run every worker in one process (export, pull-backup, import, election) for the config's components, until SIGINT or SIGTERM. For one machine; beyond it, run the workers on each host against one Redis.",
    )
    .addOption(configOption())
    .addOption(keyFileOption())
    .addHelpText('after', examples('pullback up', 'pullback up --config /etc/pullback/pullback.yaml'))
    .action(async (options) => (await import('../actions/up.js')).up(options, context));
}
