import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { examples } from './help-text.js';

/** `pullback config …`: the config file. */
export function registerConfigCommands(program: Command, context: CommandContext): void {
  const config = program
    .command('config')
    .summary('work with pullback.yaml')
    .description('Work with the config file, pullback.yaml.');

  config
    .command('check')
    .summary('validate a config file')
    .description(
      'Validate a config file: prints "FILE: ok (N components, M instances)", or one line per problem on stderr (naming the key) and exits 1.',
    )
    .argument('[FILE]', 'the config file (default: $PULLBACK_CONFIG, else ./pullback.yaml)')
    .addHelpText(
      'after',
      examples('pullback config check', 'pullback config check /etc/pullback/pullback.yaml'),
    )
    .action(async (file) => (await import('../actions/config-check.js')).configCheck(file, context));
}
