/**
 * A failure the user can act on, reported as one line `pullback: <message>` with
 * no stack trace. `exitCode` is 1 unless said otherwise.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * Exit status of a backup that made its snapshot but left entries out (each told in a
 * warning): the snapshot is usable, but not complete. restic uses 3 the same way.
 */
export const INCOMPLETE_EXIT_CODE = 3;

export function skippedEntries(count: number): CliError {
  return new CliError(
    `snapshot made, ${count} ${count === 1 ? 'entry' : 'entries'} skipped`,
    INCOMPLETE_EXIT_CODE,
  );
}

/** Exit status for a command line that cannot be run as written, and for commands not built yet. */
export const USAGE_EXIT_CODE = 2;

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
  throw new CliError(`"${command}" is not implemented yet (coming with ${comingWith})`, USAGE_EXIT_CODE);
}
