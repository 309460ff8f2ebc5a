/**
 * Where a takeover action (activate a fallback, switch over) reports as it goes: the
 * CLI writes to its stdout and stderr, the dashboard collects the lines for the page.
 */
export interface TakeoverIo {
  /** One line of progress or outcome. */
  say(line: string): void;
  /** One warning (the activation went on). */
  warn(line: string): void;
  /** Aborted when the process stops (SIGINT/SIGTERM). */
  readonly signal: AbortSignal;
}
