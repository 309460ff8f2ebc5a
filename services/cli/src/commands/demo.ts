import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { logFormatOption } from '../options.js';

export function registerDemoCommand(program: Command, context: CommandContext): void {
  program
    .command('demo')
    .summary('a local sandbox running the whole pipeline')
    .description(
      'Run a local sandbox of the whole pipeline: throwaway PostgreSQL and Redis, an archive, backups, a failover.',
    )
    .option('--keep', 'leave the sandbox running (servers and workers) until Ctrl-C, to explore it')
    .addOption(logFormatOption())
    .action(async (options) => (await import('../actions/demo.js')).demo(options, context));
}
