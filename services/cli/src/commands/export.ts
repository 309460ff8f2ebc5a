import { type Command, Option } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption } from '../options.js';
import { examples } from './help-text.js';

export function registerExportCommand(program: Command, context: CommandContext): void {
  program
    .command('export')
    .summary('queue an export now, outside the schedule')
    .description(
      "Queue an export of a component now, outside its schedule. The agent next to the component's active instance runs it; the pull into the archive follows as usual. Needs Redis.",
    )
    .argument('<component>', 'a component of the config, e.g. shop')
    // Required so that the bare form stays free for a later meaning; scheduled exports need no command.
    .addOption(new Option('--now', 'export now (required)').makeOptionMandatory())
    .option(
      '--logical',
      'a logical export (pg_dump of each database and the globals) instead of a physical one',
    )
    .addOption(
      new Option(
        '--full',
        "read everything, not only what changed since the agent's previous export",
      ).conflicts('logical'),
    )
    .addOption(configOption())
    .addHelpText(
      'after',
      examples(
        'pullback export shop --now',
        'pullback export shop --now --full',
        'pullback export shop --logical --now',
      ),
    )
    .action(async (component, options) =>
      (await import('../actions/export-now.js')).exportNow(component, options, context),
    );
}
