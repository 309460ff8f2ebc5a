import { Command, type CommanderError, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { registerArchiveCommands } from './commands/archive.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDashboardCommand } from './commands/dashboard.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerExportCommand } from './commands/export.js';
import { registerForgetCommand } from './commands/forget.js';
import { registerImportCommand } from './commands/import.js';
import { registerRepairCommand } from './commands/repair.js';
import { registerRestoreCommand } from './commands/restore.js';
import { registerRestorePointCommand } from './commands/restore-point.js';
import { registerSnapshotsCommand } from './commands/snapshots.js';
import { registerStatusCommand } from './commands/status.js';
import { registerSwitchoverCommand } from './commands/switchover.js';
import { registerUpCommand } from './commands/up.js';
import { registerVerifyCommand } from './commands/verify.js';
import type { CommandContext } from './context.js';
import { helpLayout } from './help-layout.js';
import { cliVersion } from './version.js';

const ENVIRONMENT = `
Environment:
  PULLBACK_CONFIG     config file when --config is not given (default: ./pullback.yaml)
  PULLBACK_KEY_FILE   archive key file when --key-file is not given
  PULLBACK_PASSWORD   archive passphrase, when neither --key-file nor PULLBACK_KEY_FILE
                      is given (before archive.keyFile of the config)
  AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL
                      for s3:// archives and outboxes (AWS_ENDPOINT_URL for MinIO and other S3-compatible stores)
  PULLBACK_DEBUG=1    print stack traces with errors

Exit status: 0 on success; 1 when the command failed; 2 when the command line is
wrong or the command is not built yet; 3 when a backup made its snapshot but left
entries out; 10 when there is no archive at the location; 11 when the archive is
locked; 12 when the archive key is missing, unreadable or wrong; 130/143 when stopped
by SIGINT/SIGTERM. Errors are one line on stderr, with a HINT when you can act.
Run "pullback <command> --help" for a command's options and examples.
`;

/**
 * A usage error or a help/version exit from commander, with the command it
 * happened in (for the "see pullback X --help" hint).
 */
export class CommandLineExit extends Error {
  override readonly name = 'CommandLineExit';
  constructor(
    readonly commanderError: CommanderError,
    readonly command: CommandUnknownOpts,
  ) {
    super(commanderError.message);
  }
}

/** The whole `pullback` command line; parsing it runs the chosen command's action. */
export function createProgram(context: CommandContext): Command {
  const program = new Command()
    .name('pullback')
    .description(
      'Pullback keeps PostgreSQL databases and directory trees recoverable and quickly replaceable, pull-backup style.',
    )
    .version(cliVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help for the command')
    .configureHelp({ ...helpLayout(), sortSubcommands: false, sortOptions: false })
    .configureOutput({
      writeOut: (text) => context.stdout.write(text),
      writeErr: (text) => context.stderr.write(text),
      // run() prints usage errors itself, as one `pullback: …` line with a hint.
      outputError: () => {},
    })
    // Options after a subcommand's name belong to the subcommand, so `backup files
    // PATH --config F` is not read as `backup --config F`.
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .addHelpText('after', ENVIRONMENT);

  program.commandsGroup('Archive:');
  registerArchiveCommands(program, context);
  registerBackupCommands(program, context);
  registerSnapshotsCommand(program, context);
  registerRestoreCommand(program, context);
  registerRestorePointCommand(program, context);
  registerVerifyCommand(program, context);
  registerRepairCommand(program, context);
  registerForgetCommand(program, context);
  program.commandsGroup('Pipeline:');
  registerUpCommand(program, context);
  registerExportCommand(program, context);
  registerImportCommand(program, context);
  registerSwitchoverCommand(program, context);
  registerStatusCommand(program, context);
  registerDashboardCommand(program, context);
  program.commandsGroup('Other:');
  registerConfigCommands(program, context);
  registerDemoCommand(program, context);
  program.helpCommand('help [command]', 'show help for a command');

  for (const group of program.commands) {
    if (group.commands.length === 0) continue;
    // `pullback backup help` backs up a component named "help"; help is `--help` below the top.
    group.helpCommand(false);
  }
  for (const command of allCommands(program)) {
    command.exitOverride((error) => {
      throw new CommandLineExit(error, command);
    });
  }
  return program;
}

function allCommands(command: CommandUnknownOpts): CommandUnknownOpts[] {
  return [command, ...command.commands.flatMap(allCommands)];
}
