import { type Command, Option } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption, keyFileOption, logFormatOption, parseRoles, ROLES } from '../options.js';
import { examples } from './help-text.js';

export function registerUpCommand(program: Command, context: CommandContext): void {
  program
    .command('up')
    .summary('every worker in one process')
    .description(
      "Run every worker in one process (export, pull-backup, import, election) for the config's components, until SIGINT or SIGTERM. For one machine; beyond it, run the workers on each host against one Redis.",
    )
    .addOption(configOption())
    .addOption(keyFileOption())
    .addOption(
      new Option(
        '--roles <LIST>',
        `the roles to run here, comma-separated: ${ROLES.join(', ')} (default: all)`,
      ).argParser(parseRoles),
    )
    .addOption(
      new Option(
        '--instance <NAME>',
        'run what belongs next to instance NAME on its host: its agent (health endpoints, active lease, supervision of its PostgreSQL), its export role while it is the active, its import role while it is a fallback',
      ).conflicts('roles'),
    )
    .addOption(logFormatOption())
    .addHelpText(
      'after',
      examples(
        'pullback up',
        'pullback up --config /etc/pullback/pullback.yaml',
        'pullback up --roles pull-backup,election',
        'pullback up --instance shop-b',
      ),
    )
    .action(async (options) => (await import('../actions/up.js')).up(options, context));
}
