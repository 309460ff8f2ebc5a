import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { EXIT_STATUS } from '../exit-status.js';
import { addArchiveAccessOptions, componentOption, parsePort, parseTime } from '../options.js';
import { examples } from './help-text.js';

export function registerRestoreCommand(program: Command, context: CommandContext): void {
  const command = program
    .command('restore')
    .summary('restore a snapshot into a directory (and start it read-only)')
    .description(
      'Restore a snapshot into --target. For PostgreSQL, --start runs the result read-only on --port, for audits. Never touches a configured instance.',
    )
    .argument(
      '<snapshot-id|latest>',
      'a snapshot id (or a unique prefix of at least 4 characters), or "latest"',
    )
    .requiredOption('--target <DIR>', 'the directory to restore into (created if missing)')
    .addOption(
      componentOption(
        'the component whose snapshot to restore (needed with "latest" when there are several)',
      ),
    )
    .option(
      '--at <TIME>',
      'PostgreSQL: recover to this point in time by replaying archived WAL (ISO 8601 with a zone); not built yet, comes with continuous WAL',
      parseTime,
    )
    .option('--delta', 'keep files in DIR that already match the snapshot; rewrite only what differs')
    .option('--start', 'then start PostgreSQL on DIR, read-only, for audits (needs --port)')
    .option('--port <N>', 'the port for --start', parsePort);
  addArchiveAccessOptions(command)
    .addHelpText(
      'after',
      examples(
        'pullback restore latest --component shop --target /srv/restore/shop',
        'pullback restore latest --component shop --target /tmp/audit --start --port 5499',
        'pullback restore 4f3a9c --target /srv/pg/b --delta',
      ),
    )
    .action(async (snapshot, options) => {
      // commander has "conflicts" and "implies" but no "requires": check the pair here.
      if (options.start === true && options.port === undefined) {
        command.error('--start needs --port N', { exitCode: EXIT_STATUS.usage });
      }
      if (options.port !== undefined && options.start !== true) {
        command.error('--port is only used with --start', { exitCode: EXIT_STATUS.usage });
      }
      return (await import('../actions/restore.js')).restore(snapshot, options, context);
    });
}
