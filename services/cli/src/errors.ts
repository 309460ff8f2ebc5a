import { EXIT_STATUS } from './exit-status.js';

/**
 * A failure the user can act on, reported as one line `pullback: <message>` with
 * no stack trace. `exitCode` is 1 unless said otherwise (exit-status.ts).
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_STATUS.failed,
  ) {
    super(message);
  }
}

/** A backup that made its snapshot but left entries out: usable, but not complete. */
export function skippedEntries(count: number): CliError {
  return new CliError(
    `snapshot made, ${count} ${count === 1 ? 'entry' : 'entries'} skipped`,
    EXIT_STATUS.incomplete,
  );
}

/**
 * The command has already reported its outcome (verify printing what is broken,
 * say) and only the exit status remains to be set.
 */
export class SilentExit extends Error {
  override readonly name = 'SilentExit';
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/**
 * Thrown by the placeholder action of a command whose implementation comes with
 * later work; replacing the action file replaces this.
 */
export function notImplemented(command: string, comingWith: string): never {
  throw new CliError(`"${command}" is not implemented yet (coming with ${comingWith})`, EXIT_STATUS.usage);
}
