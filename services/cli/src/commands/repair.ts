import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { addArchiveAccessOptions } from '../options.js';
import { examples } from './help-text.js';

export function registerRepairCommand(program: Command, context: CommandContext): void {
  const repair = program.command('repair').summary('repair the archive').description('Repair the archive.');
  const index = repair
    .command('index')
    .summary('rebuild the index from the packs')
    .description(
      "Rebuild the index from the packs' own headers: one new index object replaces every other, damaged ones included; entries of packs that are gone are dropped, so the next backup stores their data again. Waits for running backups to end.",
    );
  addArchiveAccessOptions(index)
    .addHelpText('after', examples('pullback repair index', 'pullback repair index --archive /mnt/archive'))
    .action(async (options) => (await import('../actions/repair-index.js')).repairIndex(options, context));
}
