import { type Command, Option } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import {
  addArchiveAccessOptions,
  archiveOption,
  configOption,
  jsonOption,
  keyFileOption,
} from '../options.js';
import { examples } from './help-text.js';

/** `pullback backup <component>` and `pullback backup files PATH`: one-shot backups, no Redis needed. */
export function registerBackupCommands(program: Command, context: CommandContext): void {
  const backup = program
    .command('backup')
    .summary('one-shot export + pull of a component, no Redis needed')
    .description(
      "Back up a component of the config once, in this process: its recipe's export into the outbox, then the pull into the archive. Needs no Redis and no running workers.",
    )
    .argument('<component>', 'a component of the config, e.g. shop')
    .option(
      '--logical',
      'a logical export (pg_dump of each database and the globals) instead of a physical one',
    )
    .addOption(
      new Option(
        '--full',
        'read everything, not only what changed since the previous export on this host',
      ).conflicts('logical'),
    )
    .addOption(configOption())
    .addOption(archiveOption())
    .addOption(keyFileOption())
    .addHelpText(
      'after',
      examples(
        'pullback backup shop',
        'pullback backup shop --logical',
        'pullback backup shop --full',
        'pullback backup shop --config /etc/pullback/pullback.yaml',
      ),
    )
    .action(async (component, options) =>
      (await import('../actions/backup-component.js')).backupComponent(component, options, context),
    );

  const files = backup
    .command('files')
    .summary('one-shot snapshot of a directory tree')
    .description(
      'Snapshot a directory tree straight into the archive. Needs no config: give --archive and a key, or let the config provide them.',
    )
    .argument('<PATH>', 'the directory to back up')
    .option(
      '--exclude <PATTERN>',
      'leave out paths matching this glob, relative to PATH (e.g. "pg_wal/**"); one without a slash matches a name at any depth ("*.tmp"); repeatable',
      // One value per --exclude, so that PATH may follow it.
      (pattern: string, patterns: string[] = []) => [...patterns, pattern],
    )
    .option(
      '--force',
      'read every file again, also those whose size, mtime and ctime match the last snapshot',
    )
    .addOption(jsonOption());
  addArchiveAccessOptions(files)
    .addHelpText(
      'after',
      examples(
        'pullback backup files /srv/uploads --archive /var/lib/pullback/archive --key-file archive.key',
        'PULLBACK_PASSWORD=… pullback backup files ~/notes --archive s3://backups/pullback',
      ),
    )
    .action(async (path, options) =>
      (await import('../actions/backup-files.js')).backupFiles(path, options, context),
    );
}
