/**
 * What an action gets besides its arguments and options: where to write, the
 * environment, and a signal that is aborted on SIGINT/SIGTERM so that long-running
 * commands (`up`, a backup) can stop cleanly. Tests pass their own.
 */
export interface CommandContext {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
  readonly signal: AbortSignal;
}
