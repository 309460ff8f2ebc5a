import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { addArchiveAccessOptions, jsonOption } from '../options.js';
import { examples } from './help-text.js';

export function registerVerifyCommand(program: Command, context: CommandContext): void {
  const verify = program
    .command('verify')
    .summary('check the archive for damage')
    .description(
      "Check the archive: every snapshot's manifest, the index and the packs it names; with --read-data also every chunk. Exits 1 when anything is damaged or missing.",
    )
    .option('--read-data', 'also read, decrypt and checksum every chunk (reads the whole archive)')
    .option(
      '--repair',
      'when damaged: rebuild the index from the packs without what is lost or damaged (so the next backup stores it again) and move snapshot manifests that cannot be read to damaged/ in the archive (kept, never deleted)',
    )
    .addOption(jsonOption());
  addArchiveAccessOptions(verify)
    .addHelpText(
      'after',
      examples(
        'pullback verify',
        'pullback verify --read-data --json',
        'pullback verify --read-data --repair',
      ),
    )
    .action(async (options) => (await import('../actions/verify.js')).verify(options, context));
}
