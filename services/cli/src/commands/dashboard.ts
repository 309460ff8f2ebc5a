import { type Command, Option } from '@commander-js/extra-typings';
import type { CommandContext } from '../context.js';
import { addArchiveAccessOptions, parsePort, parseSeconds } from '../options.js';
import { examples } from './help-text.js';

/** The port `pullback dashboard` serves on when no --port is given. */
export const DASHBOARD_PORT = 8432;

export function registerDashboardCommand(program: Command, context: CommandContext): void {
  const dashboard = program
    .command('dashboard')
    .summary('serve a web page of the components, snapshots, jobs and activations')
    .description(
      "Serve a web page that shows, per component, the active and each fallback (role, state, lag, why unhealthy), the snapshot timeline and the time restorable to, recent jobs and failures, and the activations; it refreshes by itself. Reads the registry (Redis) and the archive's snapshot list, and shows no secret. With dashboardToken (or dashboardTokenFile) in the config, a viewer who logs in with that token can activate a fallback or switch over from the page, as import --activate and switchover do; without it the page is read-only. Binds to 127.0.0.1 unless --host says otherwise. Runs until SIGINT or SIGTERM.",
    )
    .addOption(
      new Option('--port <N>', `the port to serve on (default: ${DASHBOARD_PORT})`)
        .argParser(parsePort)
        .default(DASHBOARD_PORT, String(DASHBOARD_PORT)),
    )
    .addOption(
      new Option(
        '--host <H>',
        'the address to bind to (default: 127.0.0.1; 0.0.0.0 shows it to the network)',
      ).default('127.0.0.1'),
    )
    .addOption(
      new Option('--interval <S>', 'how often the page refreshes, in seconds (default: 5)')
        .argParser(parseSeconds)
        .default(5),
    );
  addArchiveAccessOptions(dashboard)
    .addHelpText(
      'after',
      examples('pullback dashboard', 'pullback dashboard --port 9000 --config /etc/pullback/pullback.yaml'),
    )
    .action(async (options) => (await import('../actions/dashboard.js')).dashboard(options, context));
}
