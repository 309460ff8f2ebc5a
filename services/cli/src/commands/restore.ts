import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { EXIT_STATUS } from '../exit-status.js';
import {
  addArchiveAccessOptions,
  collectTablespaceMapping,
  componentOption,
  parseLsnOption,
  parsePort,
  parseTime,
  parseXid,
} from '../options.js';
import { examples } from './help-text.js';

export function registerRestoreCommand(program: Command, context: CommandContext): void {
  const command = program
    .command('restore')
    .summary('restore a snapshot, or a point in time, into a directory (and start it)')
    .description(
      'Restore a snapshot into --target. For PostgreSQL, --start runs the result read-only on --port, for audits. ' +
        'With --at, --lsn, --name or --xid, restore the component as it was at that point: the newest snapshot before it, ' +
        "and the archive's WAL replayed up to it (paused there read-only, or writable with --promote). " +
        'Never touches a configured instance.',
    )
    .argument(
      '[snapshot-id|latest]',
      'a snapshot id (or a unique prefix of at least 4 characters), or "latest"; with a point in time, the base to replay from (default: the newest before it)',
    )
    .requiredOption('--target <DIR>', 'the directory to restore into (created if missing)')
    .addOption(
      componentOption(
        'the component whose snapshot to restore (needed with "latest" when there are several)',
      ),
    )
    .option(
      '--at <TIME>',
      'PostgreSQL: recover to this point in time (ISO 8601 with a zone) by replaying archived WAL',
      parseTime,
    )
    .option('--lsn <LSN>', 'PostgreSQL: recover up to this WAL position (like 0/3000028)', parseLsnOption)
    .option(
      '--name <RESTORE_POINT>',
      'PostgreSQL: recover to a restore point made by `pullback restore-point`',
    )
    .option('--xid <XID>', 'PostgreSQL: recover until this transaction id has committed', parseXid)
    .option(
      '--promote',
      'with a point in time: make the result writable there (a new timeline) instead of pausing',
    )
    .option('--delta', 'keep files in DIR that already match the snapshot; rewrite only what differs')
    .option(
      '--tablespace-map <OLD=NEW>',
      'PostgreSQL: restore the tablespace that was at OLD at NEW instead (repeatable; default: each at its original location)',
      collectTablespaceMapping,
    )
    .option('--start', 'then start PostgreSQL on DIR, read-only, for audits (needs --port)')
    .option('--port <N>', 'the port for --start', parsePort);
  addArchiveAccessOptions(command)
    .addHelpText(
      'after',
      examples(
        'pullback restore latest --component shop --target /srv/restore/shop',
        'pullback restore latest --component shop --target /tmp/audit --start --port 5499',
        'pullback restore 4f3a9c --target /srv/pg/b --delta',
        'pullback restore latest --component shop --target /srv/pg/b --tablespace-map /srv/ts=/srv/pg/b-ts',
        'pullback restore --component shop --at "2025-06-01 14:30:00+02" --target /tmp/pitr --start --port 5499',
        'pullback restore --component shop --name before-migration --target /tmp/pitr --start --port 5499 --promote',
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
      const targets = [options.at, options.lsn, options.name, options.xid].filter((t) => t !== undefined);
      if (targets.length > 1) {
        command.error('give one of --at, --lsn, --name and --xid', { exitCode: EXIT_STATUS.usage });
      }
      if (targets.length === 1 && options.component === undefined) {
        command.error('a point-in-time restore needs --component C', { exitCode: EXIT_STATUS.usage });
      }
      if (targets.length === 0 && snapshot === undefined) {
        command.error('give a snapshot id or "latest", or a point in time (--at, --lsn, --name, --xid)', {
          exitCode: EXIT_STATUS.usage,
        });
      }
      if (targets.length === 0 && options.promote === true) {
        command.error('--promote is only used with a point in time', { exitCode: EXIT_STATUS.usage });
      }
      return (await import('../actions/restore.js')).restore(snapshot, options, context);
    });
}
