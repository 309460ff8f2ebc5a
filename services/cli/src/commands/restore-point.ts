import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption } from '../options.js';
import { examples } from './help-text.js';

export function registerRestorePointCommand(program: Command, context: CommandContext): void {
  program
    .command('restore-point')
    .summary("name the active's current position, for restore --name")
    .description(
      "Create a named restore point on the component's active (pg_create_restore_point) and print its LSN. " +
        '`pullback restore --component C --name NAME` later restores to exactly there. ' +
        "The active is the registry's live one when Redis is reachable, else the config's.",
    )
    .argument('<component>', 'a PostgreSQL component of the config, e.g. shop')
    .argument('<name>', "the restore point's name (up to 63 bytes)")
    .addOption(configOption())
    .addHelpText('after', examples('pullback restore-point shop before-migration'))
    .action(async (component, name, options) =>
      (await import('../actions/restore-point.js')).restorePoint(component, name, options, context),
    );
}
