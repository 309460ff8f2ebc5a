import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { addArchiveAccessOptions } from '../options.js';
import { examples } from './help-text.js';

/** `pullback archive …`: managing the archive itself. */
export function registerArchiveCommands(program: Command, context: CommandContext): void {
  const archive = program
    .command('archive')
    .summary('manage the archive itself')
    .description('Manage the archive itself.');

  const init = archive
    .command('init')
    .summary('create an archive (prints where the key is)')
    .description(
      "Create an empty archive at --archive (or the config's archive.url), its data encrypted with a new key protected by --key-file (else PULLBACK_KEY_FILE, else the passphrase in PULLBACK_PASSWORD, else the config's archive.keyFile); prints where the key is.",
    );
  addArchiveAccessOptions(init)
    .addHelpText(
      'after',
      examples(
        'pullback archive init --archive /var/lib/pullback/archive --key-file /etc/pullback/archive.key',
        'AWS_ENDPOINT_URL=http://127.0.0.1:9000 pullback archive init --archive s3://backups/pullback',
      ),
    )
    .action(async (options) => (await import('../actions/archive-init.js')).archiveInit(options, context));
}
