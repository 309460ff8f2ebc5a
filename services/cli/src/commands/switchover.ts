import type { Command } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { configOption } from '../options.js';
import { examples } from './help-text.js';

export function registerSwitchoverCommand(program: Command, context: CommandContext): void {
  program
    .command('switchover')
    .summary('make a fallback the active, planned, losing no write')
    .description(
      "Make a fallback the active of COMPONENT, planned, by the activation's path: a new epoch is taken, the active's agent shuts it down cleanly (writes refused, fast shutdown), the fallback replays every record of it up to its shutdown checkpoint, then it is promoted and the registry, the export schedule, the WAL receiver and the other fallbacks follow it; no acknowledged write is lost. The old active then follows the new one as a fallback when its data directory is on this host (else its agent rejoins it). The target is the best fallback (newest position, then priority, then name) unless --to; it must be healthy, of priority above 0, not behind the archive, and streaming.",
    )
    .argument('<component>', 'a postgres component of the config, e.g. shop')
    .option('--to <NAME>', 'the fallback to make the active (default: the best one)')
    .addOption(configOption())
    .addHelpText('after', examples('pullback switchover shop', 'pullback switchover shop --to shop-c'))
    .action(async (component, options) =>
      (await import('../actions/switchover.js')).switchover(component, options, context),
    );
}
