import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import { ConfigError } from '@pullback/pipeline/config/flags';
import type { CommandContext } from './context.js';
import { CliError, SilentExit } from './errors.js';
import { EXIT_STATUS, exitStatusOf } from './exit-status.js';
import { redactForProcess } from './process-secrets.js';
import { CommandLineExit, createProgram } from './program.js';

/**
 * Runs one `pullback` command line and returns the exit status. Every failure
 * becomes one `pullback: …` line per problem on stderr, with the stack only
 * when PULLBACK_DEBUG=1.
 */
export async function run(argv: readonly string[], context: CommandContext): Promise<number> {
  const program = createProgram(context);
  try {
    await program.parseAsync([...argv], { from: 'node' });
    return 0;
  } catch (error) {
    return report(error, context);
  }
}

function report(error: unknown, context: CommandContext): number {
  // An error may quote a connection string or a secret: none is printed (process-secrets.ts).
  const say = (line: string): void => {
    context.stderr.write(`pullback: ${redactForProcess(line, context.env)}\n`);
  };
  if (error instanceof CommandLineExit) return reportCommandLine(error, say);
  if (error instanceof SilentExit) return error.exitCode;

  if (error instanceof ConfigError) for (const line of error.lines) say(line);
  else say(messageOf(error));
  if (context.env.PULLBACK_DEBUG === '1' && error instanceof Error && error.stack !== undefined) {
    context.stderr.write(`${redactForProcess(error.stack, context.env)}\n`);
  }
  return error instanceof CliError ? error.exitCode : exitStatusOf(error);
}

function reportCommandLine(exit: CommandLineExit, say: (line: string) => void): number {
  const { code, exitCode } = exit.commanderError;
  // --help and --version have printed what was asked for.
  if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
  // A group named without its subcommand: commander has printed the group's help on stderr.
  if (code === 'commander.help') return exitCode === 0 ? 0 : EXIT_STATUS.usage;
  say(`${tidy(exit.commanderError.message)} (see "${commandPath(exit)} --help")`);
  return EXIT_STATUS.usage;
}

/**
 * commander's messages as one line: "error: unknown command 'stats'\n(Did you
 * mean status?)" → "unknown command 'stats' (did you mean status?)", and
 * "option '--port <N>' argument '5x' is invalid. expected …" → "option '--port
 * <N>': expected …, got '5x'".
 */
function tidy(message: string): string {
  const line = message
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean/g, ' (did you mean')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  const invalid =
    /^option '(?<what>[^']+)' argument '(?<value>.*)' is invalid\. (?<reason>.+)$/s.exec(line) ??
    /^command-argument value '(?<value>.*)' is invalid for argument '(?<what>[^']+)'\. (?<reason>.+)$/s.exec(
      line,
    );
  const { what, value, reason } = invalid?.groups ?? {};
  if (what === undefined || value === undefined || reason === undefined) return line;
  return reason.includes(' got ') ? `${what}: ${reason}` : `${what}: ${reason}, got '${value}'`;
}

function commandPath(exit: CommandLineExit): string {
  const names: string[] = [];
  for (let command: CommandUnknownOpts | null = exit.command; command !== null; command = command.parent) {
    names.unshift(command.name());
  }
  return names.join(' ');
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const message = error.message === '' ? error.name : error.message;
    // Archive errors carry what the user can do apart, as pgBackRest's HINT does.
    const hint = (error as { hint?: unknown }).hint;
    return typeof hint === 'string' && !message.includes('HINT:') ? `${message}; HINT: ${hint}` : message;
  }
  return String(error);
}
