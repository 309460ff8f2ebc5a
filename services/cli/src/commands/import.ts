import { type Command, Option } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption } from '../options.js';
import { examples } from './help-text.js';

export function registerImportCommand(program: Command, context: CommandContext): void {
  program
    .command('import')
    .summary('activate a fallback by hand (not built yet)')
    .description(
      'Not built yet (comes with the election). Activate a fallback by hand: it replays the archive to its end, the old active is fenced (new epoch), then the fallback is promoted and clients are re-pointed. Refuses a stale fallback unless --force.',
    )
    .argument('<instance>', 'a fallback instance of the config, e.g. shop-b')
    // Activation is not undoable: the flag must be written out.
    .addOption(new Option('--activate', 'make INSTANCE the active (required)').makeOptionMandatory())
    .option(
      '--force',
      'activate even if INSTANCE is not the freshest healthy fallback or cannot replay to the end (can lose writes)',
    )
    .addOption(configOption())
    .addHelpText(
      'after',
      examples('pullback import shop-b --activate', 'pullback import shop-b --activate --force'),
    )
    .action(async (instance, options) =>
      (await import('../actions/import-activate.js')).importActivate(instance, options, context),
    );
}
