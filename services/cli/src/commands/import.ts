import { type Command, Option } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption } from '../options.js';
import { examples } from './help-text.js';

export function registerImportCommand(program: Command, context: CommandContext): void {
  program
    .command('import')
    .summary('activate a fallback by hand')
    .description(
      'Activate a fallback by hand, by the same path as the election: a new epoch is taken and recorded on every instance agent (the old active lease must lapse, the fence command runs), the fallback replays the archive to its end and is promoted, the registry, the export schedule, the WAL receiver and the other fallbacks follow it. Refuses while the active is healthy or the fallback is unhealthy or stale (behind the archive), unless --force; never a fallback of priority 0.',
    )
    .argument('<instance>', 'a fallback instance of the config, e.g. shop-b')
    // Activation is not undoable: the flag must be written out.
    .addOption(new Option('--activate', 'make INSTANCE the active (required)').makeOptionMandatory())
    .option(
      '--force',
      'activate even though the active is healthy (it is demoted) or INSTANCE is behind the archive (can lose writes)',
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
