import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { addArchiveAccessOptions, componentOption, jsonOption } from '../options.js';
import { examples } from './help-text.js';

export function registerSnapshotsCommand(program: Command, context: CommandContext): void {
  const snapshots = program
    .command('snapshots')
    .summary("list the archive's snapshots")
    .description(
      "List the archive's snapshots, oldest first. Reads only the archive: no Redis, no config needed.",
    )
    .addOption(componentOption('only the snapshots of component C'))
    .addOption(jsonOption());
  addArchiveAccessOptions(snapshots)
    .addHelpText(
      'after',
      examples(
        'pullback snapshots',
        'pullback snapshots --component shop --json',
        'pullback snapshots --archive /mnt/archive',
      ),
    )
    .action(async (options) => (await import('../actions/snapshots.js')).listSnapshots(options, context));
}
