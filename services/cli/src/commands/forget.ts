import type { Command } from '@commander-js/extra-typings';
import { DURATION_HELP } from '@pullback/archive/retention';
import type { CommandContext } from '../context.js';
import { addArchiveAccessOptions, componentOption, parseCount, parseKeepWithin } from '../options.js';
import { examples } from './help-text.js';

export function registerForgetCommand(program: Command, context: CommandContext): void {
  const forget = program
    .command('forget')
    .summary('apply a retention policy (--prune frees the data)')
    .description(
      'Remove the snapshots a retention policy does not keep; with --prune also the data only they used. Safe while backups run.',
    )
    .option('--keep-last <N>', 'keep the newest N snapshots', parseCount)
    .option('--keep-hourly <N>', 'keep the newest snapshot of each of the last N hours', parseCount)
    .option('--keep-daily <N>', 'keep the newest snapshot of each of the last N days', parseCount)
    .option('--keep-weekly <N>', 'keep the newest snapshot of each of the last N weeks', parseCount)
    .option('--keep-monthly <N>', 'keep the newest snapshot of each of the last N months', parseCount)
    .option('--keep-yearly <N>', 'keep the newest snapshot of each of the last N years', parseCount)
    .option(
      '--keep-within <DURATION>',
      `keep every snapshot within DURATION of the newest: ${DURATION_HELP}`,
      parseKeepWithin,
    )
    .addOption(componentOption('only the snapshots of component C'))
    .option('--prune', 'also remove the data no kept snapshot needs (WAL a kept base backup needs is kept)')
    .option('--dry-run', 'print what would be removed, remove nothing');
  addArchiveAccessOptions(forget)
    .addHelpText(
      'after',
      '\nWithout --keep-* options, each component keeps what its retention in the config says.\n' +
        examples(
          'pullback forget --prune',
          'pullback forget --component shop --keep-hourly 24 --keep-daily 7 --dry-run',
          'pullback forget --keep-within 30d --prune --archive /mnt/archive',
        ),
    )
    .action(async (options) => (await import('../actions/forget.js')).forget(options, context));
}
