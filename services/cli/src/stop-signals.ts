import { constants } from 'node:os';

/** How long a command gets to stop cleanly after SIGINT/SIGTERM before the process exits anyway. */
export const STOP_GRACE_MS = 2000;

let graceMs = STOP_GRACE_MS;

/**
 * Gives the running command longer to stop cleanly: `up` closes its workers, each
 * waiting for its job to end, which takes longer than a request's abort.
 */
export function setStopGraceMs(ms: number): void {
  graceMs = ms;
}

export interface StopSignals {
  /** Aborted on the first SIGINT or SIGTERM, with "received SIGTERM" as its reason. */
  readonly signal: AbortSignal;
  /**
   * 130 after SIGINT, 143 after SIGTERM (128 + the signal's number, as shells report);
   * undefined before. A command that still ends well (`up` stopping cleanly) exits 0.
   */
  exitCode(): number | undefined;
}

/**
 * The one place that turns SIGINT/SIGTERM into an AbortSignal for the running command.
 * The first signal aborts it and starts a grace period; when the command has not
 * finished by then (a request that ignores the abort), or on a second signal, the
 * process exits at once. Either way the status says which signal ended it.
 */
export function stopOnSignals(stderr: NodeJS.WritableStream): StopSignals {
  const stop = new AbortController();
  let exitCode: number | undefined;
  for (const name of ['SIGINT', 'SIGTERM'] as const) {
    process.on(name, () => {
      if (exitCode !== undefined) process.exit(exitCode);
      exitCode = 128 + constants.signals[name];
      stderr.write(`pullback: stopping (${name} again to stop at once)\n`);
      stop.abort(new Error(`received ${name}`));
      // Unreferenced: a command that ends in time lets the process exit on its own.
      setTimeout(() => process.exit(exitCode), graceMs).unref();
    });
  }
  return { signal: stop.signal, exitCode: () => exitCode };
}
